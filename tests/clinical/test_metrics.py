"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.clinical import metrics as m

# A worked decision-curve example: 10 knees, 4 events.
Y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 1])
P = np.array([0.9, 0.6, 0.35, 0.15, 0.3, 0.05, 0.25, 0.1, 0.4, 0.12])


def test_net_benefit_matches_the_hand_computed_worked_example() -> None:
    # At t = 0.2 the flagged knees are p >= 0.2: 0.9, 0.6, 0.35, 0.3, 0.25, 0.4 ->
    # TP = 3 (0.9, 0.6, 0.3), FP = 3 (0.35, 0.25, 0.4); NB = 3/10 - 3/10 * 0.2/0.8 = 0.225.
    # At t = 0.5: flagged 0.9, 0.6 -> TP 2, FP 0; NB = 0.2.
    # At t = 0.1: flagged all but 0.05 -> TP 4, FP 5; NB = 0.4 - 0.5 * 0.1/0.9 = 0.34444.
    nb = m.net_benefit(Y, P, [0.1, 0.2, 0.5])
    assert nb == pytest.approx([0.4 - 0.5 / 9, 0.225, 0.2])
    # Treat all: prevalence 0.4; NB = 0.4 - 0.6 * t/(1-t).
    assert m.net_benefit_treat_all(Y, [0.2, 0.5]) == pytest.approx([0.25, -0.2])


def test_net_benefit_with_weights_counts_weighted_knees() -> None:
    weight = np.ones(10)
    weight[0] = 3.0  # the first event stands for three knees: n = 12
    assert m.net_benefit(Y, P, [0.5], weight) == pytest.approx([4 / 12])


def test_weighted_auc_counts_weighted_pairs_by_hand() -> None:
    # Events 0.9, 0.6, 0.3, 0.12 against non-events 0.35, 0.15, 0.05, 0.25, 0.1, 0.4:
    # 6 + 6 + 4 + 2 = 18 of 24 pairs ordered correctly.
    assert m.auc(Y, P) == pytest.approx(18 / 24)
    # The event at 0.9 stands for 3 knees, the non-event at 0.4 for 2 (beaten by 0.9 and 0.6
    # only): 3 * 7 + 7 + 4 + 2 = 34 of 6 * 7 = 42 weighted pairs.
    weight = np.ones(10)
    weight[0], weight[8] = 3.0, 2.0
    assert m.auc(Y, P, weight) == pytest.approx(34 / 42)


def test_threshold_at_specificity_is_the_lowest_that_keeps_it() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    p = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1)
    t = m.threshold_at_specificity(y, p, 0.9)
    assert m.specificity(y, p, t) >= 0.9
    lower = np.max(p[(y == 0) & (p < t)])
    assert m.specificity(y, p, lower) < 0.9
    assert m.sensitivity_at_specificity(y, p, 0.9) == m.sensitivity(y, p, t)


def test_sensitivity_and_workload() -> None:
    t = m.threshold_at_sensitivity(Y, P, 0.75)
    assert t == 0.3  # events ranked 0.9, 0.6, 0.3, 0.12: three of four kept at 0.3
    assert m.sensitivity(Y, P, t) == 0.75
    assert m.workload_removed(P, t) == 0.5  # 0.15, 0.05, 0.25, 0.1, 0.12 leave the list
    assert m.workload_at_sensitivity(Y, P, 0.75) == 0.5


def test_calibration_slope_and_intercept_recover_known_miscalibration() -> None:
    rng = np.random.default_rng(1)
    true_logit = rng.normal(-1, 1.5, 40000)
    y = (rng.random(true_logit.size) < 1 / (1 + np.exp(-true_logit))).astype(int)
    perfect = 1 / (1 + np.exp(-true_logit))
    overconfident = 1 / (1 + np.exp(-2 * true_logit))
    assert m.calibration_slope(y, perfect) == pytest.approx(1.0, abs=0.04)
    assert m.calibration_intercept(y, perfect) == pytest.approx(0.0, abs=0.04)
    assert m.calibration_slope(y, overconfident) == pytest.approx(0.5, abs=0.03)
    shifted = 1 / (1 + np.exp(-(true_logit + 0.7)))
    assert m.calibration_intercept(y, shifted) == pytest.approx(-0.7, abs=0.05)


def test_bootstrap_resamples_subjects_and_brackets_the_value() -> None:
    rng = np.random.default_rng(2)
    y = rng.random(600) < 0.4
    p = np.clip(0.35 * y + 0.65 * rng.random(600), 0, 1)
    groups = np.repeat(np.arange(300), 2)
    est = m.bootstrap(m.auc, y, p, groups, n_boot=200)
    assert est.low < est.value < est.high
    assert est.high - est.low < 0.15
    # One subject holding every knee: every resample is the same data, the CI collapses.
    same = m.bootstrap(m.auc, y, p, np.zeros(600), n_boot=20)
    assert same.low == same.high == same.value
