"""Grouped nested cross-validation and the summary of held-out predictions.

The outer loop here holds out whole subjects; the estimator's own ``fit`` runs the
inner loop (tuning, stacking, calibration, thresholds) on the outer training folds
only. Every reported number therefore comes from predictions on subjects that no
part of the model saw.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from . import metrics as m
from .landmark import LandmarkData, RiskModel
from .stacking import grouped_splits
from .triage import (
    STAGE_OF,
    TARGET_NAMES,
    CascadeDecisions,
    StageFlow,
    TriageCascade,
    cascade_flow,
)

log = logging.getLogger(__name__)


def nested_cross_val_predict(
    estimator: BaseEstimator,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_splits: int = 5,
    seed: int = 0,
    sample_weight: np.ndarray | None = None,
    stratify: np.ndarray | None = None,
    predict: Callable[[BaseEstimator, np.ndarray], Any] | None = None,
) -> list[tuple[np.ndarray, Any]]:
    """Fit a clone on each outer training fold; predict its held-out subjects.

    ``y`` may be 2-D (cascade targets); folds are stratified on ``stratify`` (default:
    ``y``, or its first column). ``predict`` maps (fitted model, X_test) to the
    prediction (default: probability of class 1). Returns ``(test_rows, prediction)``
    per fold.
    """
    X, y, groups = np.asarray(X, float), np.asarray(y), np.asarray(groups)
    strata = stratify if stratify is not None else (y if y.ndim == 1 else y[:, 0])
    predict = predict or (lambda model, x: model.predict_proba(x)[:, 1])
    out = []
    splits = grouped_splits(np.asarray(strata).astype(int), groups, n_splits, seed)
    for fold, (train, test) in enumerate(splits, 1):
        log.info("nested CV: outer fold %d of %d (%d knees held out)", fold, n_splits, len(test))
        model = clone(estimator)
        fit_args: dict[str, Any] = {"groups": groups[train]}
        if sample_weight is not None:
            fit_args["sample_weight"] = np.asarray(sample_weight)[train]
        model.fit(X[train], y[train], **fit_args)
        out.append((test, predict(model, X[test])))
    return out


def out_of_fold_proba(folds: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    """Assemble per-fold probabilities into one vector in row order."""
    p = np.full(n, np.nan)
    for rows, proba in folds:
        p[rows] = proba
    return p


@dataclass
class BinaryEvaluation:
    """Held-out performance of one probability, with subject-level bootstrap CIs."""

    n: int
    events: float
    specificity_target: float
    auc: m.Estimate
    sensitivity: m.Estimate
    specificity: m.Estimate
    workload_removed: m.Estimate
    brier: m.Estimate
    calibration_slope: m.Estimate
    calibration_intercept: m.Estimate
    decision_thresholds: list[float] = field(default_factory=list)
    net_benefit: list[float] = field(default_factory=list)
    net_benefit_treat_all: list[float] = field(default_factory=list)
    y: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    p: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    weight: np.ndarray | None = field(default=None, repr=False)

    def metrics(self) -> dict[str, m.Estimate]:
        """The metrics with CIs, by name."""
        names = ("auc", "sensitivity", "specificity", "workload_removed", "brier",
                 "calibration_slope", "calibration_intercept")  # fmt: skip
        return {name: getattr(self, name) for name in names}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v.to_dict() for k, v in self.metrics().items()}
        out.update(
            n=self.n, events=self.events, specificity_target=self.specificity_target,
            decision_thresholds=self.decision_thresholds,
            net_benefit=self.net_benefit, net_benefit_treat_all=self.net_benefit_treat_all,
        )  # fmt: skip
        return out


def evaluate_binary(
    y: np.ndarray,
    p: np.ndarray,
    flagged: np.ndarray,
    groups: np.ndarray,
    specificity_target: float,
    weight: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> BinaryEvaluation:
    """Summarise held-out probabilities ``p`` and the decisions ``flagged`` made from them.

    The decisions must come from thresholds chosen on training data (each model's
    out-of-fold choice at ``specificity_target``); sensitivity, specificity and
    workload removed are those the decisions achieve on these held-out knees.
    """
    y, p = np.asarray(y).astype(int), np.asarray(p, float)
    f = np.asarray(flagged).astype(float)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, float)

    def boot(metric: m.Metric, score: np.ndarray = p) -> m.Estimate:
        return m.bootstrap(metric, y, score, groups, w, n_boot=n_boot, seed=seed)

    thresholds = m.DECISION_THRESHOLDS
    return BinaryEvaluation(
        n=len(y),
        events=float(np.sum(w * y)),
        specificity_target=specificity_target,
        auc=boot(m.auc),
        sensitivity=boot(lambda y_, f_, w_: m.sensitivity(y_, f_, 0.5, w_), f),
        specificity=boot(lambda y_, f_, w_: m.specificity(y_, f_, 0.5, w_), f),
        workload_removed=boot(lambda y_, f_, w_: m.workload_removed(f_, 0.5, w_), f),
        brier=boot(m.brier),
        calibration_slope=boot(m.calibration_slope),
        calibration_intercept=boot(m.calibration_intercept),
        decision_thresholds=thresholds.tolist(),
        net_benefit=m.net_benefit(y, p, thresholds, w).tolist(),
        net_benefit_treat_all=m.net_benefit_treat_all(y, thresholds, w).tolist(),
        y=y,
        p=p,
        weight=weight,
    )


@dataclass
class CascadeEvaluation:
    """Held-out evaluation of a triage cascade: per-target summaries and the flow."""

    stages: dict[str, BinaryEvaluation]
    flow: list[StageFlow]
    proba: np.ndarray
    decisions: CascadeDecisions

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": {t: e.to_dict() for t, e in self.stages.items()},
            "flow": [asdict(f) for f in self.flow],
        }


def evaluate_cascade(
    cascade: TriageCascade,
    X: np.ndarray,
    Y: np.ndarray,
    groups: np.ndarray,
    n_splits: int = 5,
    n_boot: int = 1000,
    seed: int = 0,
) -> CascadeEvaluation:
    """Grouped nested cross-validation of a cascade.

    Each target is summarised on the held-out knees that reached its stage (stage B
    on knees stage A flagged, stage C on knees stage B flagged); a target whose held-out
    knees at its stage are all of one class is left out.
    """
    Y = np.asarray(Y).astype(int)

    def predict(model: TriageCascade, x: np.ndarray) -> np.ndarray:
        decided = model.decide(p := model.predict_proba(x))
        return np.column_stack([p, decided.flagged, decided.reached])

    folds = nested_cross_val_predict(cascade, X, Y, groups, n_splits, seed, predict=predict)
    n = len(TARGET_NAMES)
    out = np.full((len(Y), 3 * n), np.nan)
    for rows, prediction in folds:
        out[rows] = prediction
    proba = out[:, :n]
    decisions = CascadeDecisions(out[:, n : 2 * n] == 1, out[:, 2 * n :] == 1)
    stages = {}
    for j, target in enumerate(TARGET_NAMES):
        reached = decisions.reached[:, j]
        if np.unique(Y[reached, j]).size < 2:
            continue
        specificity = cascade.specificity if STAGE_OF[target] == "A" else cascade.later_specificity
        stages[target] = evaluate_binary(
            Y[reached, j], proba[reached, j], decisions.flagged[reached, j],
            np.asarray(groups)[reached], specificity, n_boot=n_boot, seed=seed,
        )  # fmt: skip
    return CascadeEvaluation(stages, cascade_flow(Y, decisions), proba, decisions)


def evaluate_risk(
    model: RiskModel, data: LandmarkData, n_splits: int = 5, n_boot: int = 1000, seed: int = 0
) -> BinaryEvaluation:
    """Grouped nested cross-validation of a landmark risk model (IPCW-weighted metrics)."""

    def predict(fitted: RiskModel, x: np.ndarray) -> np.ndarray:
        return np.column_stack([fitted.predict_proba(x)[:, 1], fitted.predict(x)])

    folds = nested_cross_val_predict(
        model, data.X, data.y, data.groups, n_splits, seed, sample_weight=data.weight,
        predict=predict,
    )  # fmt: skip
    out = np.full((len(data.y), 2), np.nan)
    for rows, prediction in folds:
        out[rows] = prediction
    return evaluate_binary(
        data.y, out[:, 0], out[:, 1] == 1, data.groups, model.specificity,
        weight=data.weight, n_boot=n_boot, seed=seed,
    )  # fmt: skip
