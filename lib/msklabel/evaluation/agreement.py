"""Agreement of biomarkers measured on predicted and reference masks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class BlandAltman:
    """Mean difference (predicted - reference) and its 95 % limits of agreement."""

    bias: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Interval:
    """An estimate with the bounds of its confidence interval."""

    value: float
    low: float
    high: float


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


def mean_ci(values: np.ndarray, confidence: float = 0.95) -> Interval:
    """The mean of ``values`` (NaN dropped) with its Student-t confidence interval (NaN
    bounds with fewer than 2 values)."""
    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    mean = float(x.mean())
    if x.size < 2:
        return Interval(mean, float("nan"), float("nan"))
    half = stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return Interval(mean, mean - float(half), mean + float(half))


def icc(ratings: np.ndarray, confidence: float = 0.95) -> dict[str, Interval]:
    """ICC(2,1) (two-way random, absolute agreement) and ICC(3,1) (two-way mixed,
    consistency) of an ``(n targets, k raters)`` table, after Shrout & Fleiss (1979), each
    with its F-distribution based confidence interval.

    The intervals are those of McGraw KO, Wong SP. Forming inferences about some intraclass
    correlation coefficients. Psychol Methods 1996;1(1):30-46 (table 7, cases 3A and 2A;
    also irr's ``icc`` and pingouin's ``intraclass_corr``): with ``F = MSR / MSE``,
    ICC(3,1) has bounds ``(F_L - 1) / (F_L + k - 1)`` and ``(F_U - 1) / (F_U + k - 1)`` for
    ``F_L = F / F(1-a/2; n-1, (n-1)(k-1))`` and ``F_U = F * F(1-a/2; (n-1)(k-1), n-1)``;
    ICC(2,1) uses Satterthwaite's degrees of freedom ``v`` for the combined rater and
    error mean squares, ``L = n (MSR - F* MSE) / (F* (k MSC + (kn - k - n) MSE) + n MSR)``
    with ``F* = F(1-a/2; n-1, v)`` and ``U = n (F_* MSR - MSE) / (k MSC + (kn - k - n) MSE
    + n F_* MSR)`` with ``F_* = F(1-a/2; v, n-1)``.
    """
    x = np.asarray(ratings, float)
    n, k = x.shape
    grand = x.mean()
    rows = k * ((x.mean(axis=1) - grand) ** 2).sum() / (n - 1)  # MSR, between targets
    columns = n * ((x.mean(axis=0) - grand) ** 2).sum() / (k - 1)  # MSC, between raters
    residual = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + grand
    error = (residual**2).sum() / ((n - 1) * (k - 1))  # MSE
    icc2 = (rows - error) / (rows + (k - 1) * error + k * (columns - error) / n)
    icc3 = (rows - error) / (rows + (k - 1) * error)
    q = 0.5 + confidence / 2
    df_error = (n - 1) * (k - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f_observed = rows / error
        f_low = f_observed / stats.f.ppf(q, n - 1, df_error)
        f_high = f_observed * stats.f.ppf(q, df_error, n - 1)
        a = k * icc2 / (n * (1 - icc2))
        b = 1 + k * icc2 * (n - 1) / (n * (1 - icc2))
        v = (a * columns + b * error) ** 2 / (
            (a * columns) ** 2 / (k - 1) + (b * error) ** 2 / df_error
        )
        f_star, f_star_low = stats.f.ppf(q, n - 1, v), stats.f.ppf(q, v, n - 1)
        spread = k * columns + (k * n - k - n) * error
        low2 = n * (rows - f_star * error) / (f_star * spread + n * rows)
        high2 = n * (f_star_low * rows - error) / (spread + n * f_star_low * rows)
    return {
        "icc2_1": Interval(float(icc2), float(low2), float(high2)),
        "icc3_1": Interval(
            float(icc3),
            float((f_low - 1) / (f_low + k - 1)),
            float((f_high - 1) / (f_high + k - 1)),
        ),
    }
