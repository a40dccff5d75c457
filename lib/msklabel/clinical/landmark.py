"""Landmark datasets for 48-month risk of knee replacement (TKR) or incident OA.

At each landmark (0, 12, 24, 36, 48 months) the knees still event-free and under
follow-up, with a visit at most ``max_gap_months`` before the landmark, give one row:
their history features up to the landmark (see
:func:`~msklabel.clinical.features.history_features`) and whether the event happens
within ``horizon_months`` after it.

Censoring is handled by inverse probability of censoring weighting (IPCW): a knee
whose follow-up ends before the horizon without the event has unknown status and is
left out; every knee with known status is weighted by 1 / G, where G is the
Kaplan-Meier probability of still being followed at the time its status became known
(its event, or the horizon). The weighted rows stand for the whole landmark cohort,
so weighted incidence, fits and metrics are unbiased under independent censoring.

Event times in a longitudinal table (one row per knee and visit):

- ``tkr``: ``tkr_month`` (NaN: not replaced); follow-up ends at ``last_contact_month``.
- ``oa``: the first visit with ``kl_grade >= 2``; follow-up ends at the last visit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

from .features import KNEE, SUBJECT, VISIT, ReferenceCohort, history_feature_names, history_features
from .metrics import threshold_at_specificity
from .stacking import StackedClassifier, binary_classes

OUTCOMES = {"tkr": "knee replacement", "oa": "incident radiographic OA (KL >= 2)"}
LANDMARKS: tuple[int, ...] = (0, 12, 24, 36, 48)
HORIZON_MONTHS = 48


@dataclass(frozen=True)
class LandmarkData:
    """Stacked landmark rows with known status: plain arrays for the models."""

    X: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    groups: np.ndarray
    knees: np.ndarray
    landmarks: np.ndarray
    feature_names: list[str]
    n_censored: int  # rows left out: follow-up ended before the horizon without the event


def event_times(table: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Per knee: ``event_month`` (inf when not seen) and ``end_month`` (end of follow-up)."""
    knees = table.groupby(KNEE)
    if outcome == "tkr":
        event = knees["tkr_month"].first().fillna(np.inf)
        end = knees["last_contact_month"].first()
    elif outcome == "oa":
        event = table[table["kl_grade"] >= 2].groupby(KNEE)[VISIT].min()
        end = knees[VISIT].max()
        event = event.reindex(end.index).fillna(np.inf)
    else:
        raise ValueError(f"unknown outcome {outcome!r}; choose from {', '.join(OUTCOMES)}")
    return pd.DataFrame({"event_month": event.astype(float), "end_month": end.astype(float)})


def censoring_survival(time: np.ndarray, event: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Kaplan-Meier G(t-) of the censoring distribution, just before each time in ``at``.

    ``time`` is the observed time, ``event`` true when it is an event (not a censoring);
    a censoring at the same time as an event counts as happening after it.
    """
    time, censored = np.asarray(time, float), ~np.asarray(event, bool)
    moments = np.unique(time[censored])
    at_risk = np.array([(time >= t).sum() for t in moments])
    drops = np.array([(censored & (time == t)).sum() for t in moments])
    survival = np.cumprod(1.0 - drops / np.maximum(at_risk, 1))
    index = np.searchsorted(moments, np.asarray(at, float), side="left")
    return np.concatenate([[1.0], survival])[index]


def landmark_dataset(
    table: pd.DataFrame,
    reference: ReferenceCohort,
    outcome: str,
    landmarks: Sequence[int] = LANDMARKS,
    horizon_months: int = HORIZON_MONTHS,
    max_gap_months: int = 12,
) -> LandmarkData:
    """Landmark rows of every knee at risk, with outcome and IPCW weight."""
    times = event_times(table, outcome)
    parts = []
    for landmark in landmarks:
        history = history_features(table, reference, landmark).set_index(KNEE)
        last_visit = table[table[VISIT] <= landmark].groupby(KNEE)[VISIT].max()
        t = times.reindex(history.index)
        at_risk = (
            (t["event_month"] > landmark)
            & (t["end_month"] >= landmark)
            & (last_visit.reindex(history.index) >= landmark - max_gap_months)
        )
        history, t = history[at_risk], t[at_risk]
        horizon = landmark + horizon_months
        event = t["event_month"] <= t["end_month"]
        observed = np.minimum(t["event_month"], t["end_month"]) - landmark
        y = (t["event_month"] <= horizon).to_numpy()
        known = y | (t["end_month"] >= horizon).to_numpy()
        known_at = np.minimum(t["event_month"], horizon).to_numpy() - landmark
        weight = np.where(known, 1.0 / censoring_survival(observed, event, known_at), 0.0)
        parts.append(history.assign(_y=y, _w=weight, _known=known).reset_index())
    rows = pd.concat(parts, ignore_index=True)
    kept = rows[rows["_known"]]
    names = history_feature_names()
    return LandmarkData(
        X=kept[names].to_numpy(float),
        y=kept["_y"].to_numpy(int),
        weight=kept["_w"].to_numpy(float),
        groups=kept[SUBJECT].to_numpy(),
        knees=kept[KNEE].to_numpy(),
        landmarks=kept["landmark_month"].to_numpy(float),
        feature_names=names,
        n_censored=int((~rows["_known"]).sum()),
    )


class RiskModel(ClassifierMixin, BaseEstimator):
    """A landmark risk model: a stacked classifier and a high-risk threshold.

    The threshold keeps ``specificity`` on the (IPCW-weighted) out-of-fold training
    predictions. ``groups`` and ``sample_weight`` are routable fit parameters (see
    :mod:`~msklabel.clinical.stacking`); ``blocks`` goes to the stacked classifier.
    """

    def __init__(
        self,
        specificity: float = 0.9,
        n_splits: int = 3,
        boosting: bool = True,
        random_state: int = 0,
        blocks: tuple[int, ...] | None = None,
    ) -> None:
        self.specificity = specificity
        self.n_splits = n_splits
        self.boosting = boosting
        self.random_state = random_state
        self.blocks = blocks

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        groups: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> RiskModel:
        """Fit on features ``X`` and a binary outcome ``y`` (the larger label is the event)."""
        X, y = validate_data(self, X, y, dtype=float)
        classes, event = binary_classes(y, type(self).__name__)
        self.classifier_ = StackedClassifier(
            n_splits=self.n_splits, boosting=self.boosting,
            random_state=self.random_state, blocks=self.blocks,
        ).fit(X, event, groups=groups, sample_weight=sample_weight)  # fmt: skip
        self.threshold_ = threshold_at_specificity(
            event, self.classifier_.oof_proba_, self.specificity, sample_weight
        )
        self.classes_ = classes
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities of ``classes_`` (columns in that order)."""
        check_is_fitted(self)
        return self.classifier_.predict_proba(validate_data(self, X, dtype=float, reset=False))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The event class for knees at or above the high-risk threshold."""
        high_risk = self.predict_proba(X)[:, 1] >= self.threshold_
        classes = getattr(self, "classes_", np.array([0, 1]))  # models saved before it was kept
        return classes[high_risk.astype(int)]
