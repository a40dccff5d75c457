"""Agreement of biomarkers measured on predicted and reference masks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BlandAltman:
    """Mean difference (predicted - reference) and its 95 % limits of agreement."""

    bias: float
    lower: float
    upper: float


def bland_altman(predicted: np.ndarray, reference: np.ndarray) -> BlandAltman:
    """Bias and 95 % limits of agreement (bias +- 1.96 SD of the differences)."""
    difference = np.asarray(predicted, float) - np.asarray(reference, float)
    bias, sd = float(difference.mean()), float(difference.std(ddof=1))
    return BlandAltman(bias, bias - 1.96 * sd, bias + 1.96 * sd)


def lin_ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation coefficient (population moments, as Lin 1989)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    covariance = float(((x - x.mean()) * (y - y.mean())).mean())
    return 2 * covariance / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def icc(ratings: np.ndarray) -> dict[str, float]:
    """ICC(2,1) (two-way random, absolute agreement) and ICC(3,1) (two-way mixed,
    consistency) of an ``(n targets, k raters)`` table, after Shrout & Fleiss (1979)."""
    x = np.asarray(ratings, float)
    n, k = x.shape
    grand = x.mean()
    between_targets = k * ((x.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    between_raters = n * ((x.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    residual = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + grand
    error = (residual**2).sum() / ((n - 1) * (k - 1))
    return {
        "icc2_1": (between_targets - error)
        / (between_targets + (k - 1) * error + k * (between_raters - error) / n),
        "icc3_1": (between_targets - error) / (between_targets + (k - 1) * error),
    }
