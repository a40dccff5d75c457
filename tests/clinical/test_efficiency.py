"""The label-efficiency curve: labelled shares of subjects, the same grouped nested CV."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from msklabel.clinical.efficiency import (
    LabelledFraction,
    label_efficiency_curve,
    labelled_rows,
    summarise_curve,
)
from msklabel.clinical.stacking import StackedClassifier


def _subjects(n_subjects: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two knees per subject, outcomes drawn independently (40 % positive)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_subjects), 2)
    y = (rng.random(2 * n_subjects) < 0.4).astype(int)
    return y, groups


def test_labelled_rows_keep_whole_subjects_of_both_kinds() -> None:
    y, groups = _subjects(200)
    rows = labelled_rows(y, groups, 0.1, min_subjects=3, seed=1)
    kept = np.unique(groups[rows])
    assert set(rows) == set(np.flatnonzero(np.isin(groups, kept)))  # whole subjects
    assert 18 <= kept.size <= 22  # 10 % of each kind, rounded
    positive = {g for g in kept if y[groups == g].any()}
    assert 3 <= len(positive) < kept.size
    tiny = labelled_rows(y, groups, 0.001, min_subjects=3, seed=1)
    kept = np.unique(groups[tiny])
    assert kept.size == 6 and 0 < y[tiny].sum() < tiny.size
    assert labelled_rows(y, groups, 1.0).size == y.size
    with pytest.raises(ValueError, match="fraction"):
        labelled_rows(y, groups, 0.0)


def test_labelled_fraction_fits_on_the_share_only() -> None:
    y, groups = _subjects(100)
    X = np.column_stack([y + np.random.default_rng(2).normal(0, 1, y.size)])
    model = LabelledFraction(StackedClassifier(boosting=False), 0.2, random_state=4)
    model.fit(X, y, groups=groups)
    assert model.n_labelled_ == labelled_rows(y, groups, 0.2, seed=4).size < y.size / 3
    assert model.predict_proba(X).shape == (y.size, 2)
    assert set(model.predict(X)) <= {0, 1}
    assert clone(model).get_params()["fraction"] == 0.2


@pytest.mark.slow
def test_curve_rises_with_labels_and_separates_informative_features() -> None:
    """A feature set carrying the outcome beats noise at every share, and gains with labels."""
    y, groups = _subjects(150, seed=3)
    rng = np.random.default_rng(5)
    informative = np.column_stack([y + rng.normal(0, 1.0, y.size), rng.normal(size=(y.size, 5))])
    noise = rng.normal(size=(y.size, 6))
    model = StackedClassifier(boosting=False)
    curve = label_efficiency_curve(
        {"signal": (model, informative), "noise": (model, noise)}, y, groups,
        fractions=(0.05, 1.0), repeats=2, n_splits=3,
    )  # fmt: skip
    assert len(curve) == 2 * 2 * 2
    summary = summarise_curve(curve).set_index(["features", "fraction"])
    auc, knees = summary["auc_mean"], summary["labelled_knees"]
    assert auc["signal", 1.0] > 0.7 and auc["noise", 1.0] < 0.62
    assert knees["signal", 0.05] < knees["signal", 1.0] / 5
    assert auc["signal", 1.0] >= auc["signal", 0.05]
