"""The ``msklabel triage`` and ``msklabel risk`` commands, end to end on synthetic tables."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from msklabel.biomarkers.measurement import Measurement, Measurements
from msklabel.cli import clinical as clinical_cli
from msklabel.clinical.features import (
    AGE,
    BIOMARKER_NAMES,
    BIOMARKERS,
    BMI,
    SEX,
    measurement_key,
)
from msklabel.clinical.prediction import StudyPrediction
from msklabel.errors import InputError


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="msklabel")
    clinical_cli.register(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.mark.slow
def test_commands_train_evaluate_predict(tmp_path: Path) -> None:
    data, report = tmp_path / "data", tmp_path / "report"
    assert _run("triage", "synthetic", "--out", str(data), "--subjects", "500") == 0
    cohort, reference = data / "cohort.csv", data / "reference.csv"
    pd.read_csv(cohort).to_parquet(data / "cohort.parquet")
    model = tmp_path / "triage.skops"
    fast = ["--folds", "2", "--bootstrap", "20", "--linear"]
    train = ["--data", str(data / "cohort.parquet"), "--reference", str(reference)]
    assert _run("triage", "train", *train, "--out", str(model), "--report", str(report), *fast) == 0
    assert (report / "report.html").stat().st_size > 50_000
    assert (report / "cascade_flow.png").is_file()
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["flow"][0]["n_in"] == 1000
    for evaluation in metrics["sections"].values():
        assert evaluation["auc"]["low"] <= evaluation["auc"]["value"] <= evaluation["auc"]["high"]
    assert _run("triage", "predict", "--model", str(model), "--data", str(cohort),
                "--out", str(tmp_path / "pred.csv")) == 0  # fmt: skip
    predictions = pd.read_csv(tmp_path / "pred.csv")
    assert len(predictions) == 1000 and predictions["p_any"].between(0, 1).all()

    study = pd.read_csv(cohort).iloc[0]
    biomarkers = {n: float(study[n]) for n in BIOMARKER_NAMES}
    biomarkers |= {"age_years": 60, "sex": "M", "bmi_kg_m2": 27}
    study_json, study_out = tmp_path / "study.json", tmp_path / "study_pred.json"
    study_json.write_text(json.dumps(biomarkers))
    assert _run("triage", "predict", "--model", str(model), "--biomarkers", str(study_json),
                "--out", str(study_out)) == 0  # fmt: skip
    saved = StudyPrediction.from_dict(json.loads(study_out.read_text()))
    assert saved.predictions[0].name == "triage_A_any"

    risk_model = tmp_path / "oa.skops"
    assert _run("risk", "train", "--data", str(data / "longitudinal.csv"), "--reference",
                str(reference), "--outcome", "oa", "--out", str(risk_model), "--linear",
                "--no-evaluate") == 0  # fmt: skip
    assert _run("risk", "predict", "--model", str(risk_model), "--data",
                str(data / "longitudinal.csv"), "--landmark", "24",
                "--out", str(tmp_path / "risk.parquet")) == 0  # fmt: skip
    risk = pd.read_parquet(tmp_path / "risk.parquet")
    assert set(risk["landmark_month"]) == {24} and risk["p_oa"].between(0, 1).all()
    assert np.isfinite(risk["p_oa"]).all()
    with pytest.raises(InputError, match="not a triage model"):
        _run("triage", "predict", "--model", str(risk_model), "--data", str(cohort),
             "--out", str(tmp_path / "x.csv"))  # fmt: skip


def test_a_table_without_targets_is_an_input_error(tmp_path: Path) -> None:
    table = tmp_path / "knees.csv"
    pd.DataFrame({"subject_id": ["a"], "sex": ["F"]}).to_csv(table, index=False)
    with pytest.raises(InputError, match=r"knees\.csv: the table lacks"):
        _run("triage", "train", "--data", str(table), "--reference", str(table),
             "--out", str(tmp_path / "m.skops"))  # fmt: skip


@pytest.mark.parametrize("command", ["triage", "risk"])
def test_predict_refuses_biomarkers_that_failed_the_quality_gate(tmp_path: Path, command) -> None:
    """A biomarkers.json whose femoral cartilage failed: the models do not run on it."""
    reason = {"code": "rectangularity:high", "verdict": "fail", "message": "box-likeness 1"}
    failed = {"verdict": "fail", "evidence": {}, "reasons": [reason]}
    data = {
        "source": {}, "measurements": [], "withheld": [],
        "quality": {"field_strength_t": 3.0, "field_strength_source": "header",
                    "rules": "defaults", "structures": {"femoral_cartilage": failed}},
    }  # fmt: skip
    path = tmp_path / "biomarkers.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "prediction.json"
    with pytest.raises(InputError, match="failed the quality gate") as caught:
        _run(command, "predict", "--biomarkers", str(path), "--out", str(out))
    assert "femoral_cartilage" in str(caught.value) and "biomarkers.json" in str(caught.value)
    assert not out.exists()


def _measure_output(path: Path, **overrides: object) -> None:
    """A biomarkers.json as ``msklabel measure`` writes it, holding every clinical biomarker."""
    items = [
        Measurement(*measurement_key(b)[:2], value=2.0, derivation=measurement_key(b)[2])
        for b in BIOMARKERS
    ]
    demographics = {AGE: 60, SEX: "M", BMI: 27.0}
    Measurements(items).write_json(path, extra={**demographics, **overrides})


@pytest.mark.parametrize("command", ["triage", "risk"])
def test_predict_reads_what_measure_writes(tmp_path: Path, command: str) -> None:
    path, out = tmp_path / "biomarkers.json", tmp_path / "prediction.json"
    _measure_output(path)
    assert _run(command, "predict", "--biomarkers", str(path), "--out", str(out)) == 0
    saved = StudyPrediction.from_dict(json.loads(out.read_text()))
    assert saved.predictions and all(0 <= p.probability <= 1 for p in saved.predictions)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: m[0].update(value="12"), "is not a number"),
        (lambda m: m[0].update(value=float("nan")), "not finite"),
        (lambda m: m[0].update(value=1e999), "not finite"),
        (lambda m: m[0].pop("structure"), "missing key 'structure'"),
        (lambda m: m[0].update(quantity=["volume"]), "is not a string"),
        (lambda m: m.append(7), "not a mapping"),
    ],
)
def test_a_malformed_biomarkers_json_names_the_file(tmp_path: Path, change, reason: str) -> None:
    path = tmp_path / "biomarkers.json"
    _measure_output(path)
    data = json.loads(path.read_text())
    change(data["measurements"])
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=reason) as caught:
        _run("triage", "predict", "--biomarkers", str(path), "--out", str(tmp_path / "p.json"))
    assert "biomarkers.json" in str(caught.value)
