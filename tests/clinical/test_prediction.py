"""Model files, cards and one-study prediction (probabilities, decisions, SR items)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from msklabel.biomarkers.measurement import Measurement, Measurements
from msklabel.clinical.bundle import (
    DEFAULT_MODELS,
    card_path,
    load_bundle,
    load_default_bundles,
    save_bundle,
)
from msklabel.clinical.cards import NOT_FOR_CLINICAL_USE
from msklabel.clinical.features import BIOMARKERS, ReferenceCohort, measurement_key
from msklabel.clinical.prediction import StudyPrediction
from msklabel.clinical.workflow import predict_study, predict_triage, train_risk, train_triage
from msklabel.errors import InputError


@pytest.fixture(scope="module")
def bundles(triage_cohort: pd.DataFrame, longitudinal_cohort: pd.DataFrame,
            reference: ReferenceCohort):  # fmt: skip
    triage = train_triage(
        triage_cohort, reference, boosting=False, evaluate=False, name="t", demonstration=True
    )
    risk = train_risk(
        longitudinal_cohort, reference, "tkr", boosting=False, evaluate=False, landmarks=(0, 24)
    )
    return triage.bundle, risk.bundle


def _study(cohort: pd.DataFrame, row: int = 0) -> dict:
    knee = cohort.iloc[row]
    items = [Measurement(*measurement_key(b)[:2], float(knee[b.name]), measurement_key(b)[2])
             for b in BIOMARKERS]  # fmt: skip
    return Measurements(items).to_json()


@pytest.mark.slow
def test_study_prediction_has_probabilities_decisions_and_sr_items(bundles, triage_cohort) -> None:
    header = {"PatientAge": "064Y", "PatientSex": "F", "PatientWeight": 80, "PatientSize": 1.6}
    prediction = predict_study(_study(triage_cohort), bundles, header=header,
                               study_instance_uid="1.2.3")  # fmt: skip
    names = [p.name for p in prediction.predictions]
    assert names[:2] == ["triage_A_any", "triage_B_bone_or_cartilage"]
    assert names[-1] == "risk_tkr_48m" and len(names) == 9
    for p in prediction.predictions:
        assert 0.0 <= p.probability <= 1.0
    stage_a = prediction.predictions[0]
    assert stage_a.decision == (stage_a.probability >= stage_a.threshold)
    if not stage_a.decision:
        assert all(p.decision is None for p in prediction.predictions[1:8])
    assert StudyPrediction.from_dict(json.loads(prediction.to_json())) == prediction

    results = prediction.model_results()
    assert [r.key for r in results] == names
    assert [r.probability for r in results] == [p.probability for p in prediction.predictions]
    assert [r.decision for r in results] == [p.decision for p in prediction.predictions]
    assert "demonstration" in results[0].algorithm_name
    assert "demonstration" not in results[-1].algorithm_name


@pytest.mark.slow
def test_a_stage_not_reached_has_no_decision_in_the_table_and_the_study_prediction(
    bundles, triage_cohort
) -> None:
    table = predict_triage(bundles[0], triage_cohort.iloc[:60])
    reached_b, reached_c = table["reached_bone_or_cartilage"], table["reached_femur"]
    assert reached_b.equals(table["flag_any"] == 1) and 0 < reached_b.sum() < 60
    assert reached_c.equals(reached_b & (table["flag_bone_or_cartilage"] == 1))
    assert (table.loc[~reached_b, "flag_bone_or_cartilage"] == 0).all()
    header = {"PatientAge": "064Y", "PatientSex": "F", "PatientWeight": 80, "PatientSize": 1.6}
    seen = set()
    for row in range(60):
        decisions = [p.decision for p in predict_study(
            _study(triage_cohort, row), [bundles[0]], header=header
        ).predictions]  # fmt: skip
        a, b, c = decisions[0], decisions[1], decisions[2:]
        assert isinstance(a, bool)
        assert (b is None) == (not a)  # stage B: decided exactly for the knees A flagged
        assert all((d is None) == (not b) for d in c)  # stage C: for those B flagged too
        seen.add((a, b))
        if (False, None) in seen and len(seen) >= 2:
            break
    assert (False, None) in seen and len(seen) >= 2  # both a stage reached and not reached


@pytest.mark.slow
def test_model_file_round_trip_and_card(bundles, triage_cohort, tmp_path: Path) -> None:
    path = save_bundle(bundles[0], tmp_path / "triage.skops")
    loaded = load_bundle(path)
    assert loaded.card == bundles[0].card and loaded.reference == bundles[0].reference
    assert path.stat().st_size < 1_000_000
    text = card_path(path).read_text()
    assert NOT_FOR_CLINICAL_USE in text and "DEMONSTRATION MODEL" in text
    (tmp_path / "bad.skops").write_text("not a model")
    with pytest.raises(InputError, match="not a skops model"):
        load_bundle(tmp_path / "bad.skops")


@pytest.mark.parametrize("name", sorted(DEFAULT_MODELS))
def test_shipped_demonstration_models(name: str) -> None:
    path = DEFAULT_MODELS[name]
    assert path.stat().st_size < 1_000_000
    bundle = load_bundle(name)
    assert bundle.card.demonstration
    assert "DEMONSTRATION MODEL" in card_path(path).read_text()
    assert any(k.endswith("AUC") for k in bundle.card.metrics)


def test_demonstration_models_predict_one_study(triage_cohort: pd.DataFrame) -> None:
    demographics = {"age_years": 66, "sex": "F", "bmi_kg_m2": 31}
    prediction = predict_study(
        _study(triage_cohort, 3), load_default_bundles(), demographics=demographics
    )
    assert [p.name for p in prediction.predictions][-2:] == ["risk_tkr_48m", "risk_oa_48m"]
    assert all(p.demonstration for p in prediction.predictions)
    assert all("demonstration" in r.algorithm_name for r in prediction.model_results())
