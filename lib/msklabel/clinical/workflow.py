"""Train, evaluate and predict from tables: what the CLI and the demonstration use.

A triage table has the columns of :mod:`~msklabel.clinical.features` plus a 0/1
``target_<name>`` column per cascade target (:data:`~msklabel.clinical.triage.TARGET_NAMES`).
A risk table is longitudinal (one row per knee and visit) with ``kl_grade``,
``tkr_month`` and ``last_contact_month`` (see :mod:`~msklabel.clinical.landmark`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from msklabel import __version__
from msklabel.errors import InputError

from . import plots
from .bundle import ModelBundle
from .cards import ModelCard
from .embeddings import feature_blocks, model_feature_names, model_features
from .evaluation import BinaryEvaluation, CascadeEvaluation, evaluate_cascade, evaluate_risk
from .features import (
    KNEE,
    SUBJECT,
    VISIT,
    ReferenceCohort,
    feature_matrix,
    feature_names,
    history_feature_names,
    history_features,
    study_row,
    target_column,
)
from .landmark import HORIZON_MONTHS, LANDMARKS, OUTCOMES, LandmarkData, RiskModel, landmark_dataset
from .prediction import StagePrediction, StudyPrediction
from .report import ReportSection, metrics_for_card, write_report
from .triage import STAGE_OF, TARGET_NAMES, TriageCascade

TARGET_DESCRIPTIONS = {
    "any": "Triage stage A: any knee abnormality",
    "bone_or_cartilage": "Triage stage B: bone or cartilage abnormality",
    "femur": "Triage stage C: femoral abnormality",
    "tibia": "Triage stage C: tibial abnormality",
    "patella": "Triage stage C: patellar abnormality",
    "cartilage": "Triage stage C: cartilage abnormality",
    "bone": "Triage stage C: bone abnormality",
    "meniscus": "Triage stage C: meniscal abnormality",
}


def read_table(path: Path | str) -> pd.DataFrame:
    """A CSV or Parquet table."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    raise InputError(path, "expected a .csv or .parquet table")


def write_table(table: pd.DataFrame, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


def triage_arrays(
    table: pd.DataFrame,
    reference: ReferenceCohort,
    features: str = "biomarkers",
    embeddings: Mapping[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (:func:`~msklabel.clinical.embeddings.model_features`), targets (columns
    :data:`TARGET_NAMES`) and subject groups."""
    missing = [target_column(t) for t in TARGET_NAMES if target_column(t) not in table]
    if missing:
        raise KeyError(f"the table lacks the target columns {', '.join(missing)}")
    X = _features(feature_matrix(table, reference), table[KNEE], features, embeddings)
    Y = table[[target_column(t) for t in TARGET_NAMES]].to_numpy(int)
    return X, Y, table[SUBJECT].to_numpy()


def _features(
    biomarkers: pd.DataFrame,
    knees: pd.Series,
    features: str,
    embeddings: Mapping[str, np.ndarray] | None,
) -> np.ndarray:
    return model_features(biomarkers.to_numpy(float), knees.astype(str), embeddings, features)


@dataclass
class TrainingRun:
    """A trained bundle and, when it was run, its nested cross-validated evaluation."""

    bundle: ModelBundle
    evaluation: CascadeEvaluation | BinaryEvaluation | None


def _card(
    name: str, kind: str, intended_use: str, data: str, demonstration: bool,
    evaluations: Mapping[str, BinaryEvaluation], n_splits: int, details: dict[str, Any],
    features: str,
) -> ModelCard:  # fmt: skip
    evaluation = (
        f"Grouped (by subject) nested {n_splits}-fold cross-validation; inner 3-fold grouped "
        "cross-validation for tuning, stacking, calibration and thresholds; 95% subject-level "
        "bootstrap CIs."
        if evaluations
        else "Not evaluated at training time: run the `evaluate` command."
    )
    model_id = f"msklabel-{name}"
    return ModelCard(
        name, model_id, __version__, kind, intended_use, data, evaluation, demonstration,
        metrics_for_card(evaluations), {"features": features, **details},
    )  # fmt: skip


def train_triage(
    table: pd.DataFrame,
    reference: ReferenceCohort,
    *,
    specificity: float = 0.9,
    later_specificity: float = 0.9,
    boosting: bool = True,
    evaluate: bool = True,
    n_splits: int = 5,
    n_boot: int = 1000,
    seed: int = 0,
    name: str = "triage",
    data_description: str = "",
    demonstration: bool = False,
    features: str = "biomarkers",
    embeddings: Mapping[str, np.ndarray] | None = None,
) -> TrainingRun:
    """Evaluate (nested CV) and fit the cascade on the whole table.

    ``boosting=False`` keeps logistic regression only (faster; for small cohorts).
    ``features`` (:data:`~msklabel.clinical.embeddings.FEATURE_SETS`) other than
    biomarkers need ``embeddings``: each knee id's study vector.
    """
    X, Y, groups = triage_arrays(table, reference, features, embeddings)
    cascade = TriageCascade(
        specificity, later_specificity, boosting=boosting, random_state=seed,
        blocks=feature_blocks(X.shape[1], len(feature_names()), features),
    )  # fmt: skip
    evaluation = (
        evaluate_cascade(cascade, X, Y, groups, n_splits, n_boot, seed) if evaluate else None
    )
    cascade.fit(X, Y, groups=groups)
    card = _card(
        name, "triage",
        "Rank knee MRI studies for reading: stage A removes knees unlikely to be abnormal from "
        "the reading list at the configured specificity; stages B and C say which knees have "
        "bone or cartilage abnormality and where. A decision aid for workflow, not a diagnosis.",
        data_description or f"{len(table)} knees of {len(np.unique(groups))} subjects.",
        demonstration, evaluation.stages if evaluation else {}, n_splits,
        {"base models": _base_models(boosting), "specificity (stage A)": specificity,
         "specificity (stages B, C)": later_specificity,
         "thresholds": {t: round(v, 4) for t, v in cascade.thresholds_.items()}}, features,
    )  # fmt: skip
    settings = {
        "specificity": specificity, "later_specificity": later_specificity, "features": features,
    }  # fmt: skip
    return TrainingRun(ModelBundle("triage", cascade, reference, card, settings), evaluation)


def train_risk(
    table: pd.DataFrame,
    reference: ReferenceCohort,
    outcome: str,
    *,
    specificity: float = 0.9,
    landmarks: Sequence[int] = LANDMARKS,
    horizon_months: int = HORIZON_MONTHS,
    boosting: bool = True,
    evaluate: bool = True,
    n_splits: int = 5,
    n_boot: int = 1000,
    seed: int = 0,
    name: str | None = None,
    data_description: str = "",
    demonstration: bool = False,
    features: str = "biomarkers",
    embeddings: Mapping[str, np.ndarray] | None = None,
) -> TrainingRun:
    """Evaluate (nested CV) and fit a landmark risk model on the whole table.

    ``boosting=False`` keeps logistic regression only (faster; for small cohorts).
    ``features`` and ``embeddings`` as for :func:`train_triage` (one study vector per knee,
    used at every landmark).
    """
    data = landmark_dataset(table, reference, outcome, landmarks, horizon_months)
    X = model_features(data.X, data.knees, embeddings, features)
    data = replace(
        data, X=X, feature_names=model_feature_names(data.feature_names, X.shape[1], features)
    )
    blocks = feature_blocks(X.shape[1], len(history_feature_names()), features)
    model = RiskModel(specificity, boosting=boosting, random_state=seed, blocks=blocks)
    evaluation = evaluate_risk(model, data, n_splits, n_boot, seed) if evaluate else None
    model.fit(data.X, data.y, groups=data.groups, sample_weight=data.weight)
    card = _card(
        name or outcome, "risk",
        f"Estimate the probability of {OUTCOMES[outcome]} within {horizon_months} months of "
        f"an MRI visit, for knees free of it at the visit, to inform follow-up and trial "
        f"enrichment. Flags knees at or above a threshold that keeps {specificity:.0%} "
        "specificity in training.",
        data_description or _landmark_description(data),
        demonstration, {outcome: evaluation} if evaluation else {}, n_splits,
        {"base models": _base_models(boosting), "landmarks (months)": list(landmarks),
         "horizon (months)": horizon_months,
         "censoring": "inverse probability of censoring weights (Kaplan-Meier)",
         "threshold": round(model.threshold_, 4)}, features,
    )  # fmt: skip
    settings = {
        "outcome": outcome, "specificity": specificity, "landmarks": list(landmarks),
        "horizon_months": horizon_months, "features": features,
    }  # fmt: skip
    return TrainingRun(ModelBundle("risk", model, reference, card, settings), evaluation)


def _base_models(boosting: bool) -> str:
    models = "L2 logistic regression (C tuned by grouped inner CV)"
    if boosting:
        models += " + histogram gradient boosting"
    return models + ", stacked and calibrated by a logistic stacker on out-of-fold logits"


def _landmark_description(data: LandmarkData) -> str:
    return (
        f"{len(data.y)} knee-landmark rows ({len(np.unique(data.knees))} knees, "
        f"{len(np.unique(data.groups))} subjects) with known status; {int(data.y.sum())} events; "
        f"{data.n_censored} rows censored before the horizon (weighted out by IPCW)."
    )


def predict_triage(
    bundle: ModelBundle,
    table: pd.DataFrame,
    embeddings: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Per knee and target: probability, whether the knee reached the target's stage
    (``reached_<target>``) and the gated decision (``flag_<target>``: 1 flagged at a stage
    reached, else 0). A model fitted on embeddings needs the knees' ``embeddings``."""
    cascade: TriageCascade = bundle.estimator
    X = _features(
        feature_matrix(table, bundle.reference), table[KNEE], features_of(bundle), embeddings
    )
    proba = cascade.predict_proba(X)
    decisions = cascade.decide(proba)
    out = table[[c for c in (SUBJECT, KNEE, VISIT) if c in table]].copy()
    for j, target in enumerate(TARGET_NAMES):
        out[f"p_{target}"] = proba[:, j]
        out[f"reached_{target}"] = decisions.reached[:, j]
        out[f"flag_{target}"] = decisions.positive[:, j].astype(int)
    return out


def predict_risk(
    bundle: ModelBundle,
    table: pd.DataFrame,
    landmark_month: int = 0,
    embeddings: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Per knee with a visit at or before the landmark: probability and high-risk flag.
    A model fitted on embeddings needs the knees' ``embeddings``."""
    history = history_features(table, bundle.reference, landmark_month)
    model: RiskModel = bundle.estimator
    X = _features(history[history_feature_names()], history[KNEE], features_of(bundle), embeddings)
    outcome = bundle.settings["outcome"]
    out = history[[SUBJECT, KNEE]].copy()
    out["landmark_month"] = landmark_month
    out[f"p_{outcome}"] = model.predict_proba(X)[:, 1]
    out[f"flag_{outcome}"] = model.predict(X)
    return out


def features_of(bundle: ModelBundle) -> str:
    """The feature set a model was fitted on (models saved before the choice: biomarkers)."""
    return bundle.settings.get("features", "biomarkers")


def predict_study(
    biomarkers: Mapping[str, Any],
    bundles: Sequence[ModelBundle],
    header: Any = None,
    demographics: Mapping[str, Any] | None = None,
    study_instance_uid: str | None = None,
) -> StudyPrediction:
    """Triage and risk predictions for one study's biomarkers (one knee, one visit).

    Risk models see the study as a single visit at landmark 0 (no history).
    """
    needing = [b.card.name for b in bundles if features_of(b) != "biomarkers"]
    if needing:
        raise ValueError(
            f"the models {', '.join(needing)} were fitted on embeddings: predict them on a "
            "table with the knees' embeddings"
        )
    row = study_row(biomarkers, demographics, header)
    row[SUBJECT], row[KNEE], row[VISIT] = "study", "study", 0
    predictions = []
    for bundle in bundles:
        card = bundle.card
        common = {"model_id": card.model_id, "model_version": card.version,
                  "demonstration": card.demonstration}  # fmt: skip
        if bundle.kind == "triage":
            result = predict_triage(bundle, row).iloc[0]
            for target in TARGET_NAMES:
                reached = bool(result[f"reached_{target}"])
                predictions.append(StagePrediction(
                    f"triage_{STAGE_OF[target]}_{target}", TARGET_DESCRIPTIONS[target],
                    float(result[f"p_{target}"]), bundle.estimator.thresholds_[target],
                    bool(result[f"flag_{target}"]) if reached else None, **common,
                ))  # fmt: skip
        else:
            outcome = bundle.settings["outcome"]
            horizon = bundle.settings["horizon_months"]
            result = predict_risk(bundle, row).iloc[0]
            predictions.append(StagePrediction(
                f"risk_{outcome}_{horizon}m",
                f"High risk of {OUTCOMES[outcome]} within {horizon} months",
                float(result[f"p_{outcome}"]), bundle.estimator.threshold_,
                bool(result[f"flag_{outcome}"]), **common,
            ))  # fmt: skip
    return StudyPrediction(predictions, study_instance_uid)


def _subtitle(card: ModelCard) -> str:
    prefix = "DEMONSTRATION (synthetic data). " if card.demonstration else ""
    return (
        prefix + "Held-out predictions (grouped nested CV). Not for clinical use until validated."
    )


def write_triage_report(run: TrainingRun, out_dir: Path, oracle: np.ndarray | None = None) -> Path:
    """PNG plots per stage, the cascade flow and ``report.html`` in ``out_dir``."""
    evaluation, card = run.evaluation, run.bundle.card
    assert isinstance(evaluation, CascadeEvaluation), "the run has no cascade evaluation"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subtitle = _subtitle(card)
    flow_png = plots.cascade_flow_plot(
        evaluation.flow, out_dir / "cascade_flow.png", "Triage cascade: held-out knees", subtitle
    )
    sections = []
    for target, e in evaluation.stages.items():
        label = TARGET_DESCRIPTIONS[target]
        curves = {"model": (e.y, e.p, None)}
        if oracle is not None and target == "any":
            curves["oracle (generating model)"] = (e.y, oracle, None)
        images = [plots.roc_plot(curves, out_dir / f"roc_{target}.png", label, subtitle)]
        if STAGE_OF[target] != "C":
            images += _calibration_and_decision(e, out_dir, target, label, subtitle)
        note = "" if STAGE_OF[target] == "A" else "Among held-out knees the earlier stage flagged."
        sections.append(ReportSection(label, e, images, note))
    return write_report(
        out_dir / "report.html", f"Knee MRI triage cascade: {card.name}", sections, card,
        evaluation.flow, [flow_png],
    )  # fmt: skip


def write_risk_report(run: TrainingRun, out_dir: Path) -> Path:
    """ROC, calibration and decision-curve PNGs and ``report.html`` in ``out_dir``."""
    e, card = run.evaluation, run.bundle.card
    assert isinstance(e, BinaryEvaluation), "the run has no evaluation"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outcome = run.bundle.settings["outcome"]
    label = f"{OUTCOMES[outcome]} within {run.bundle.settings['horizon_months']} months"
    subtitle = _subtitle(card) + " IPCW-weighted."
    images = [
        plots.roc_plot({"model": (e.y, e.p, e.weight)}, out_dir / f"roc_{outcome}.png", label,
                       subtitle),
        *_calibration_and_decision(e, out_dir, outcome, label, subtitle),
    ]  # fmt: skip
    section = ReportSection(label, e, images, "Knee-landmark rows; censoring by IPCW.")
    return write_report(
        out_dir / "report.html", f"Landmark risk model: {card.name}", [section], card
    )


def _calibration_and_decision(
    e: BinaryEvaluation, out_dir: Path, key: str, label: str, subtitle: str
) -> list[Path]:
    return [
        plots.calibration_plot(e.y, e.p, out_dir / f"calibration_{key}.png", label, e.weight,
                               subtitle=subtitle),
        plots.decision_curve_plot(e, out_dir / f"decision_curve_{key}.png", label, subtitle),
    ]  # fmt: skip
