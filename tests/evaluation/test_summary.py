import numpy as np
import pandas as pd
import pytest

from msklabel.evaluation.report import write_report
from msklabel.evaluation.summary import summarise


def _cases(dice_a, dice_b):
    rows = []
    for level, values in (("SE", dice_a), ("GRE", dice_b)):
        for i, value in enumerate(values):
            rows.append({"dataset": "d", "case": f"{level}{i}", "model": "lite",
                         "prompt": "oracle-box", "structure": "femur", "dice": value,
                         "iou": value, "surface_dice": value, "hd95_mm": 1.0,
                         "volume_difference_mm3": 0.0, "seconds": 1.0, "peak_rss_mib": 10.0,
                         "error": None, "scanning_sequence": level, "site": None})  # fmt: skip
    return pd.DataFrame(rows)


def _biomarkers(n=6):
    rng = np.random.default_rng(1)
    reference = rng.uniform(2.0, 3.0, n)
    return pd.DataFrame({
        "dataset": "d", "case": [f"c{i}" for i in range(n)], "model": "lite",
        "prompt": "oracle-box", "structure": "femoral_cartilage", "quantity": "thickness",
        "derivation": "mean", "region": None, "predicted": reference + 0.1,
        "reference": reference, "scanning_sequence": "SE", "site": None,
    })  # fmt: skip


STRATA = ["scanning_sequence", "site"]


def test_summary_per_stratum_and_the_flag_where_strata_differ():
    summary = summarise(_cases([0.90, 0.91, 0.92], [0.60, 0.62, 0.64]), _biomarkers(), STRATA)
    entries = {(e["stratum"], e["level"]): e for e in summary["segmentation"]}
    # a stratum with no known level (site) gives no entries
    assert set(entries) == {("all", "all"), ("scanning_sequence", "SE"),
                            ("scanning_sequence", "GRE")}  # fmt: skip
    assert entries["scanning_sequence", "SE"]["dice"]["value"] == pytest.approx(0.91)
    assert entries["all", "all"]["n"] == 6
    (flag,) = [f for f in summary["flags"] if f["metric"] == "dice"]
    assert flag["stratum"] == "scanning_sequence" and sorted(flag["levels"]) == ["GRE", "SE"]
    same = summarise(_cases([0.90, 0.91, 0.92], [0.90, 0.92, 0.91]), _biomarkers(), STRATA)
    assert same["flags"] == []
    (agreement,) = [e for e in summary["biomarkers"] if e["stratum"] == "all"]
    assert agreement["n"] == 6 and agreement["bland_altman"]["bias"] == pytest.approx(0.1)
    assert agreement["bland_altman"]["upper"] == pytest.approx(0.1)  # a constant offset
    assert agreement["icc3_1"]["value"] == pytest.approx(1.0)  # consistency ignores the offset
    assert agreement["icc2_1"]["value"] < 1.0 and agreement["ccc"] < 1.0


def test_report_shows_the_flag_and_plots(tmp_path):
    cases = _cases([0.90, 0.91, 0.92], [0.60, 0.62, 0.64])
    summary = summarise(cases, _biomarkers(), STRATA)
    page = write_report(tmp_path, cases, _biomarkers(), summary).read_text()
    assert "dice differs between scanning_sequence" in page
    assert "Segmentation per scanning_sequence" in page
    # Dice per structure, the forest plot of the sequences, one Bland-Altman plot
    assert page.count("<img") == 3
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "bland-altman-femoral_cartilage-thickness-mean.png", "dice.png",
        "forest-scanning_sequence.png",
    ]  # fmt: skip
