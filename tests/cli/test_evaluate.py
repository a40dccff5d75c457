"""``msklabel evaluate``: a bad plan is one line naming the file and key, exit status 2."""

from __future__ import annotations

import pytest

from msklabel.cli import main


def test_a_bad_plan_is_reported_in_one_line(tmp_path, capsys: pytest.CaptureFixture) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text('structures = ["femur"]\n[[datasets]]\nname = "x"\nkind = "pacs"\n'
                    '[[models]]\nmodel = "kneeseg"\n')  # fmt: skip
    assert main(["evaluate", str(plan), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"{plan}: datasets[0].kind: unknown kind 'pacs'" in error
    assert not (tmp_path / "out").exists()


def test_strata_that_split_the_same_cases_give_one_flag_line():
    from msklabel.cli.evaluate import _distinct_flags

    def flag(stratum, levels, means, metric="dice"):
        return {"model": "lite", "prompt": "detector", "structure": "patella", "metric": metric,
                "stratum": stratum, "levels": levels, "means": means}  # fmt: skip

    flags = [
        flag("scanning_sequence", ["GR", "SE"], [0.6, 0.8]),
        flag("mr_acquisition_type", ["2D", "3D"], [0.8, 0.6]),  # the same two groups
        flag("site", ["A", "B"], [0.65, 0.75]),
        flag("scanning_sequence", ["GR", "SE"], [0.5, 0.9], metric="surface_dice"),
    ]
    distinct = _distinct_flags(flags)
    assert [(f["stratum"], f["metric"], same) for f, same in distinct] == [
        ("scanning_sequence", "dice", ["mr_acquisition_type"]),
        ("site", "dice", []),
        ("scanning_sequence", "surface_dice", []),
    ]
