"""The runner on small phantoms: a fast test with a stand-in model (tables, cache, failures)
and a slow one with the shipped knee network and LiteMedSAM."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from msklabel.evaluation.datasets import PhantomDataset, restricted
from msklabel.evaluation.models import Predictor
from msklabel.evaluation.plan import plan_from_dict
from msklabel.evaluation.runner import Evaluator
from msklabel.labels import KneeLabel
from msklabel.segment import Segmentation

#: Two echoes, 10 mm slices of 2 mm pixels: about 15 slices of 70 x 70.
CONFIG = {"spacing": [10.0, 2.0, 2.0], "echo_times": [10.0, 40.0], "supersampling": 1,
          "fov_mm": 140}  # fmt: skip


def _plan(seeds=(0, 1), models=None):
    return plan_from_dict({
        "structures": ["femur", "femoral_cartilage"],
        "surface_tolerance_mm": 2.0,
        "datasets": [{"name": "phantoms", "kind": "phantom", "seeds": list(seeds),
                      "config": CONFIG, "strata": {"site": "A"}}],
        "models": models or [{"model": "kneeseg"},
                             {"model": "litemedsam", "prompts": ["oracle-box"]}],
    })  # fmt: skip


@pytest.mark.slow
def test_tables_and_a_rerun_that_computes_nothing(tmp_path, perfect):
    calls, loads, fail = perfect
    first = Evaluator(_plan(), tmp_path, progress=False).run()
    assert (first.computed, first.reused, len(calls), loads) == (4, 0, 4, ["seed-0", "seed-1"])
    cases = first.cases
    # 2 cases x 2 configurations x 2 structures
    assert len(cases) == 8
    assert sorted(cases["model"].unique()) == ["kneeseg", "litemedsam"]
    assert set(cases["prompt"]) == {"automatic", "oracle-box"}
    assert (cases["dice"] == 1).all() and (cases["hd95_mm"] == 0).all()
    assert (cases["volume_difference_mm3"] == 0).all() and (cases["reference_volume_mm3"] > 0).all()
    assert (cases["site"] == "A").all() and (cases["field_strength_t"] == 3.0).all()
    assert (cases["echo_times_ms"] == "10/40").all() and (cases["seconds"] > 0).all()
    markers = first.biomarkers
    assert {"volume", "thickness", "t2"} <= set(markers["quantity"])
    assert np.allclose(markers["predicted"], markers["reference"], equal_nan=True)
    for name in ("cases.csv", "cases.parquet", "biomarkers.csv", "summary", "report"):
        assert first.paths[name].is_file()
    assert len(pd.read_csv(first.paths["cases.csv"])) == 8
    cached = sorted((tmp_path / "cache").rglob("*.json"))
    assert len(cached) == 2 * 3  # per case: its reference and 2 configurations
    times = [path.stat().st_mtime_ns for path in cached]

    again = Evaluator(_plan(), tmp_path, progress=False).run()
    assert (again.computed, again.reused, len(calls), len(loads)) == (0, 4, 4, 2)
    assert [path.stat().st_mtime_ns for path in cached] == times
    pd.testing.assert_frame_equal(again.cases, cases)

    fail.add("seed-2")  # a third case that fails: reported, not cached, retried next time
    more = Evaluator(_plan(seeds=(0, 1, 2)), tmp_path, progress=False).run()
    assert (more.computed, more.reused, len(calls)) == (0, 4, 6)
    assert len(more.errors) == 2 and "no knee found" in more.errors[0]
    assert more.cases[more.cases["case"] == "seed-2"]["dice"].isna().all()
    fail.clear()
    fixed = Evaluator(_plan(seeds=(0, 1, 2)), tmp_path, progress=False).run()
    assert (fixed.computed, fixed.reused, fixed.errors) == (2, 4, [])


@pytest.mark.slow
def test_kneeseg_and_litemedsam_on_phantoms(tmp_path):
    result = Evaluator(_plan(), tmp_path, progress=False).run()
    assert result.errors == [] and result.computed == 4
    cases = result.cases.set_index(["case", "model", "structure"])
    assert len(cases) == 8
    assert cases["dice"].between(0, 1).all() and cases["surface_dice"].between(0, 1).all()
    # bones are large and clear: both models find them
    assert (cases.xs("femur", level="structure")["dice"] > 0.7).all()
    assert (cases["peak_rss_mib"] > 100).all()
    entries = [e for e in result.summary["segmentation"] if e["stratum"] == "all"]
    assert {(e["model"], e["structure"]) for e in entries} == {
        (m, s) for m in ("kneeseg", "litemedsam") for s in ("femur", "femoral_cartilage")
    }
    again = Evaluator(_plan(), tmp_path, progress=False).run()
    assert (again.computed, again.reused) == (0, 4)


@pytest.mark.slow
def test_per_slice_scores_where_the_plan_asks_for_them(tmp_path, monkeypatch):
    """A stand-in model whose femur is the reference's moved by 2 voxels: the per-slice
    table holds what numpy computes on every slice, and only when the plan asks for it."""

    def shifted(reference: np.ndarray) -> np.ndarray:
        labels = reference.copy()
        femur = reference == KneeLabel.FEMUR
        labels[femur] = 0
        labels[np.roll(femur, 2, axis=1) & (labels == 0)] = KneeLabel.FEMUR
        return labels

    def predict(self, case, mode, structures):
        reference = restricted(case.reference, structures)
        return Segmentation(reference.with_array(shifted(np.asarray(reference.array))), {})

    monkeypatch.setattr(Predictor, "predict", predict)
    models = [{"model": "kneeseg"}]
    plain = Evaluator(_plan(seeds=(0,), models=models), tmp_path, progress=False).run()
    assert plain.slices is None and not (tmp_path / "per_slice.csv").exists()

    asked = replace(_plan(seeds=(0,), models=models), per_slice=True)
    result = Evaluator(asked, tmp_path, progress=False).run()
    assert result.computed == 1  # a result cached without per-slice scores is not reused
    table = pd.read_csv(tmp_path / "per_slice.csv")
    pd.testing.assert_frame_equal(result.slices, pd.read_parquet(tmp_path / "per_slice.parquet"))
    reference = np.asarray(
        PhantomDataset(name="phantoms", seeds=(0,), config=CONFIG).load("seed-0").reference.array
    )
    predicted = shifted(np.where(np.isin(reference, [1, 4]), reference, 0))
    rows = []
    for structure in (KneeLabel.FEMUR, KneeLabel.FEMORAL_CARTILAGE):
        for k in range(reference.shape[0]):
            a, b = predicted[k] == structure, reference[k] == structure
            if a.any() or b.any():
                rows.append((structure.key, k, 2 * (a & b).sum() / (a.sum() + b.sum()),
                             b.sum(), a.sum()))  # fmt: skip
    columns = ["structure", "slice", "dice", "reference_voxels", "predicted_voxels"]
    pd.testing.assert_frame_equal(table[columns], result.slices[columns])
    got = table[columns]
    expected = pd.DataFrame(rows, columns=got.columns)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    femur = table[table["structure"] == "femur"]
    assert len(femur) > 5 and (femur["dice"] < 1).all()  # moved: imperfect on every slice
    assert (table[table["structure"] == "femoral_cartilage"]["dice"] == 1).all()
    assert (table["site"] == "A").all() and (table["model"] == "kneeseg").all()

    again = Evaluator(asked, tmp_path, progress=False).run()
    assert (again.computed, again.reused) == (0, 1)
    pd.testing.assert_frame_equal(again.slices, result.slices)
