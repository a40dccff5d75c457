"""Metrics of a binary risk score, with subject-level bootstrap confidence intervals.

Every function takes plain arrays: ``y`` (0/1), ``p`` (predicted probability) and an
optional ``weight`` (inverse-probability-of-censoring weights for landmark models).
A knee is flagged positive when ``p >= threshold``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

_EPS = 1e-6


def _weights(y: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    return np.ones(len(y)) if weight is None else np.asarray(weight, float)


def auc(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Area under the ROC curve."""
    return float(roc_auc_score(y, p, sample_weight=weight))


def brier(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Mean squared difference between outcome and probability."""
    return float(np.average((np.asarray(p) - np.asarray(y)) ** 2, weights=_weights(y, weight)))


def threshold_at_specificity(
    y: np.ndarray, p: np.ndarray, specificity: float, weight: np.ndarray | None = None
) -> float:
    """The lowest threshold at which at least ``specificity`` of the negatives are below it."""
    y, p, w = np.asarray(y), np.asarray(p, float), _weights(y, weight)
    order = np.argsort(p[y == 0])
    negatives, cum = p[y == 0][order], np.cumsum(w[y == 0][order])
    k = int(np.searchsorted(cum, specificity * cum[-1] - 1e-12))
    if k >= negatives.size:
        return float(np.nextafter(negatives[-1], np.inf))
    return float(np.nextafter(negatives[k], np.inf))


def threshold_at_sensitivity(
    y: np.ndarray, p: np.ndarray, sensitivity: float, weight: np.ndarray | None = None
) -> float:
    """The highest threshold at which at least ``sensitivity`` of the positives are above it."""
    y, p, w = np.asarray(y), np.asarray(p, float), _weights(y, weight)
    order = np.argsort(-p[y == 1])
    positives, cum = p[y == 1][order], np.cumsum(w[y == 1][order])
    k = int(np.searchsorted(cum, sensitivity * cum[-1] - 1e-12))
    return float(positives[min(k, positives.size - 1)])


def sensitivity(
    y: np.ndarray, p: np.ndarray, threshold: float, weight: np.ndarray | None = None
) -> float:
    """Fraction of positives flagged."""
    y, w = np.asarray(y), _weights(y, weight)
    return float(np.average(np.asarray(p)[y == 1] >= threshold, weights=w[y == 1]))


def specificity(
    y: np.ndarray, p: np.ndarray, threshold: float, weight: np.ndarray | None = None
) -> float:
    """Fraction of negatives not flagged."""
    y, w = np.asarray(y), _weights(y, weight)
    return float(np.average(np.asarray(p)[y == 0] < threshold, weights=w[y == 0]))


def workload_removed(p: np.ndarray, threshold: float, weight: np.ndarray | None = None) -> float:
    """Fraction of all knees not flagged: the reading list they leave."""
    return float(np.average(np.asarray(p) < threshold, weights=_weights(p, weight)))


def sensitivity_at_specificity(
    y: np.ndarray, p: np.ndarray, target: float, weight: np.ndarray | None = None
) -> float:
    """Sensitivity at the threshold that keeps ``target`` specificity on these data."""
    return sensitivity(y, p, threshold_at_specificity(y, p, target, weight), weight)


def workload_at_sensitivity(
    y: np.ndarray, p: np.ndarray, target: float, weight: np.ndarray | None = None
) -> float:
    """Workload removed at the threshold that keeps ``target`` sensitivity on these data."""
    return workload_removed(p, threshold_at_sensitivity(y, p, target, weight), weight)


def _logistic_fit(
    design: np.ndarray, y: np.ndarray, offset: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """Unpenalised weighted logistic regression by Newton-Raphson."""
    beta = np.zeros(design.shape[1])
    for _ in range(50):
        mu = 1.0 / (1.0 + np.exp(-(offset + design @ beta)))
        gradient = design.T @ (weight * (y - mu))
        hessian = (design * (weight * mu * (1 - mu))[:, None]).T @ design
        step = np.linalg.solve(hessian + 1e-10 * np.eye(len(beta)), gradient)
        beta += step
        if np.max(np.abs(step)) < 1e-9:
            break
    return beta


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def calibration_slope(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Slope of the logistic recalibration ``logit P(y) = a + b logit(p)`` (ideal 1)."""
    design = np.column_stack([np.ones(len(y)), logit(p)])
    return float(
        _logistic_fit(design, np.asarray(y, float), np.zeros(len(y)), _weights(y, weight))[1]
    )


def calibration_intercept(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Calibration-in-the-large: ``a`` in ``logit P(y) = a + logit(p)`` (ideal 0)."""
    design = np.ones((len(y), 1))
    return float(_logistic_fit(design, np.asarray(y, float), logit(p), _weights(y, weight))[0])


def net_benefit(
    y: np.ndarray, p: np.ndarray, thresholds: Sequence[float], weight: np.ndarray | None = None
) -> np.ndarray:
    """Net benefit ``TP/n - FP/n * t/(1-t)`` of treating knees with ``p >= t``, per threshold."""
    y, p, w = np.asarray(y), np.asarray(p, float), _weights(y, weight)
    t = np.asarray(thresholds, float)
    flagged = p[None, :] >= t[:, None]
    tp = (flagged * (w * (y == 1))).sum(axis=1) / w.sum()
    fp = (flagged * (w * (y == 0))).sum(axis=1) / w.sum()
    return tp - fp * t / (1 - t)


def net_benefit_treat_all(
    y: np.ndarray, thresholds: Sequence[float], weight: np.ndarray | None = None
) -> np.ndarray:
    """Net benefit of treating every knee (treating none is 0 at every threshold)."""
    return net_benefit(y, np.ones(len(y)), thresholds, weight)


#: Decision-curve thresholds: 1% to 50%.
DECISION_THRESHOLDS = np.round(np.arange(0.01, 0.505, 0.01), 2)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a percentile bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} ({self.low:.3f}-{self.high:.3f})"

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


Metric = Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]


def bootstrap(
    metric: Metric,
    y: np.ndarray,
    p: np.ndarray,
    groups: np.ndarray,
    weight: np.ndarray | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """The metric and its percentile CI, resampling subjects (``groups``) with replacement.

    A resample is expressed as weights (a subject drawn k times weighs k), which every
    metric here accepts. Resamples where the metric is undefined (one class) are skipped.
    """
    y, p, w = np.asarray(y), np.asarray(p, float), _weights(y, weight)
    value = metric(y, p, w)
    _, index = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = index.max() + 1
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)[index]
        drawn = counts > 0
        if np.unique(y[drawn]).size < 2:
            continue
        values.append(metric(y[drawn], p[drawn], (w * counts)[drawn]))
    alpha = (1 - level) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha]) if values else (np.nan, np.nan)
    return Estimate(float(value), float(low), float(high))
