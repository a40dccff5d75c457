"""Label efficiency: held-out AUC against the share of knees that are labelled.

Every point runs the grouped nested cross-validation of every evaluation here
(:func:`~msklabel.clinical.evaluation.nested_cross_val_predict`: whole subjects held out,
the model's own inner folds for tuning, stacking and calibration) on a
:class:`LabelledFraction`: in each outer training fold only a random share of the subjects
keeps its labels, and the model is fitted on them alone; the held-out subjects are always
scored in full. Subjects with a positive knee and subjects without are sampled alike (at
least ``min_subjects`` of each, so that the inner folds see both classes). Feature sets are
compared on the same folds and the same labelled subjects; repeats draw other folds and
other subjects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils.validation import check_is_fitted
from tqdm import tqdm

from .evaluation import nested_cross_val_predict, out_of_fold_proba
from .metrics import auc

#: Shares of the training subjects that keep their labels (5 % to all).
FRACTIONS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.7, 1.0)
#: Fewest subjects kept of each class (with and without a positive knee).
MIN_SUBJECTS = 3


def labelled_rows(
    y: np.ndarray,
    groups: np.ndarray,
    fraction: float,
    min_subjects: int = MIN_SUBJECTS,
    seed: int = 0,
) -> np.ndarray:
    """Rows of a random ``fraction`` of the subjects (``groups``), drawn separately among
    subjects with a positive row and without, at least ``min_subjects`` of each where
    there are that many."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    _, index = np.unique(np.asarray(groups), return_inverse=True)
    positive = np.bincount(index, weights=np.asarray(y, float)) > 0
    rng = np.random.default_rng(seed)
    kept = []
    for stratum in (positive, ~positive):
        members = np.flatnonzero(stratum)
        n = min(members.size, max(min_subjects, round(fraction * members.size)))
        kept.append(rng.choice(members, n, replace=False))
    return np.flatnonzero(np.isin(index, np.concatenate(kept)))


class LabelledFraction(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Fits a clone of ``estimator`` on the rows of a random ``fraction`` of the subjects
    it is given (:func:`labelled_rows`); predicts with it.

    Attributes: ``estimator_`` (the fitted clone), ``classes_``, ``n_labelled_`` (rows
    fitted on).
    """

    def __init__(
        self,
        estimator: BaseEstimator,
        fraction: float = 1.0,
        min_subjects: int = MIN_SUBJECTS,
        random_state: int = 0,
    ) -> None:
        self.estimator = estimator
        self.fraction = fraction
        self.min_subjects = min_subjects
        self.random_state = random_state

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        groups: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> LabelledFraction:
        """Fit on the labelled share; ``groups``: the subject of each row (default: each
        row its own subject)."""
        X, y = np.asarray(X, float), np.asarray(y)
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        rows = labelled_rows(y, groups, self.fraction, self.min_subjects, self.random_state)
        fit_args = {"groups": groups[rows]}
        if sample_weight is not None:
            fit_args["sample_weight"] = np.asarray(sample_weight)[rows]
        self.estimator_ = clone(self.estimator).fit(X[rows], y[rows], **fit_args)
        self.classes_ = self.estimator_.classes_
        self.n_labelled_ = int(rows.size)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        return self.estimator_.predict(X)


def label_efficiency_curve(
    models: Mapping[str, tuple[BaseEstimator, np.ndarray]],
    y: np.ndarray,
    groups: np.ndarray,
    fractions: Sequence[float] = FRACTIONS,
    repeats: int = 3,
    n_splits: int = 5,
    seed: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """Held-out AUC of each of ``models`` (feature set name -> (estimator, ``X``)) at each
    labelled fraction, ``repeats`` times: one row per (features, fraction, repeat) with the
    mean number of knees the outer folds' models were fitted on."""
    y = np.asarray(y).astype(int)
    runs = [(name, f, r) for name in models for f in fractions for r in range(repeats)]
    rows = []
    for name, fraction, repeat in tqdm(
        runs, desc="label-efficiency curve", unit="fit", disable=not progress
    ):
        estimator, X = models[name]
        model = LabelledFraction(estimator, fraction, random_state=seed + repeat)
        folds = nested_cross_val_predict(
            model, X, y, groups, n_splits, seed + repeat,
            predict=lambda fitted, x: (fitted.predict_proba(x)[:, 1], fitted.n_labelled_),
        )  # fmt: skip
        p = out_of_fold_proba([(test, out[0]) for test, out in folds], len(y))
        rows.append({
            "features": name, "fraction": fraction, "repeat": repeat,
            "labelled_knees": float(np.mean([out[1] for _, out in folds])), "auc": auc(y, p),
        })  # fmt: skip
    return pd.DataFrame(rows)


def summarise_curve(curve: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD of the AUC and the mean labelled knees per feature set and fraction."""
    summary = curve.groupby(["features", "fraction"], sort=False).agg(
        labelled_knees=("labelled_knees", "mean"),
        auc_mean=("auc", "mean"),
        auc_sd=("auc", "std"),
        repeats=("auc", "size"),
    )
    return summary.reset_index()
