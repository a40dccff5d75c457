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
