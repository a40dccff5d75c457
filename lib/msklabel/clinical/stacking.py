"""A stacked, calibrated classifier that never scores what it was fitted on.

Two base models (an L2-regularised logistic regression whose strength is tuned by
grouped inner cross-validation, and a histogram gradient-boosting model) make
out-of-fold predictions on grouped inner folds; a logistic stacker fitted on those
out-of-fold logits combines and calibrates them. The base models are then refitted
on all the training data. ``oof_proba_`` holds the stacked predictions for the
training rows, each from a stacker and base models that did not see that row's
subject: thresholds and later cascade stages are chosen on them.

``groups`` (the subject of each row) is a keyword of ``fit``; with scikit-learn's metadata
routing enabled, ``set_fit_request(groups=True)`` lets a ``Pipeline`` or ``cross_validate``
route it (see :func:`sklearn.set_config`).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .metrics import logit


def grouped_splits(
    y: np.ndarray, groups: np.ndarray | None, n_splits: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds that keep every subject's knees together, stratified on the outcome.

    Subjects are ordered by their fraction of positive knees (ties broken at random)
    and dealt to the folds in turn, so every fold gets a similar share of positives.
    """
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    _, index = np.unique(groups, return_inverse=True)
    positive_fraction = np.bincount(index, weights=np.asarray(y, float)) / np.bincount(index)
    order = np.lexsort(
        (np.random.default_rng(seed).random(positive_fraction.size), positive_fraction)
    )
    fold_of_group = np.empty(order.size, int)
    fold_of_group[order] = np.arange(order.size) % n_splits
    fold = fold_of_group[index]
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(n_splits)]


class StackedClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression + gradient boosting, stacked and calibrated out of fold.

    Parameters
    ----------
    n_splits:
        Inner grouped folds for the out-of-fold predictions and the tuning of ``C``.
    boosting:
        Include the gradient-boosting base model (logistic regression alone otherwise).
    max_iter, max_leaf_nodes, learning_rate:
        Gradient-boosting capacity (kept small so that model files stay small).
    random_state:
        Seed of the folds and of gradient boosting.
    blocks:
        Widths of consecutive column blocks, each with its own logistic regression (its own
        scaling and tuned ``C``), which the stacker weighs against each other: e.g. a study
        embedding and the biomarkers, so that one penalty over both does not shrink the few
        biomarker columns as hard as the many embedding columns. None: one over all columns.
    """

    def __init__(
        self,
        n_splits: int = 3,
        boosting: bool = True,
        max_iter: int = 60,
        max_leaf_nodes: int = 8,
        learning_rate: float = 0.08,
        random_state: int = 0,
        blocks: tuple[int, ...] | None = None,
    ) -> None:
        self.n_splits = n_splits
        self.boosting = boosting
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.blocks = blocks

    def _block_columns(self) -> list[slice | None]:
        if self.blocks is None:
            return [None]
        edges = np.cumsum((0, *self.blocks))
        return [slice(int(a), int(b)) for a, b in pairwise(edges)]

    def _base_models(self, splits: list) -> list[BaseEstimator]:
        linear = [
            make_pipeline(
                *(
                    []
                    if columns is None
                    else [ColumnTransformer([("block", "passthrough", columns)])]
                ),
                StandardScaler(),
                LogisticRegressionCV(
                    Cs=np.logspace(-2, 1, 4),
                    l1_ratios=(0.0,),
                    cv=splits,
                    scoring="neg_log_loss",
                    use_legacy_attributes=False,
                ),
            )
            for columns in self._block_columns()
        ]
        if not self.boosting:
            return linear
        boosted = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            learning_rate=self.learning_rate,
            l2_regularization=1.0,
            min_samples_leaf=40,
            max_bins=32,
            early_stopping=False,
            random_state=self.random_state,
        )
        return [*linear, boosted]

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
    ) -> StackedClassifier:
        """Fit on features ``X`` and a binary outcome ``y`` (two classes, any labels);
        ``groups``: the subject of each row (rows of one subject share every fold)."""
        X, y = validate_data(self, X, y, dtype=float)
        if self.blocks is not None and sum(self.blocks) != X.shape[1]:
            raise ValueError(f"blocks {self.blocks} do not add up to {X.shape[1]} columns")
        self.classes_, y = binary_classes(y, type(self).__name__)
        weight = None if sample_weight is None else np.asarray(sample_weight, float)
        with config_context(enable_metadata_routing=False):  # the inner models are ours
            self._fit_stack(X, y, groups, weight)
        return self

    def _fit_stack(
        self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None, weight: np.ndarray | None
    ) -> None:
        splits = grouped_splits(y, groups, self.n_splits, self.random_state)
        oof = np.zeros((len(y), len(self._base_models(splits))))
        for train, test in splits:
            inner = grouped_splits(
                y[train], None if groups is None else np.asarray(groups)[train],
                self.n_splits, self.random_state,
            )  # fmt: skip
            for j, model in enumerate(self._base_models(inner)):
                _fit(model, X[train], y[train], _rows(weight, train))
                oof[test, j] = model.predict_proba(X[test])[:, 1]
        self.stacker_ = LogisticRegression(C=1e4).fit(logit(oof), y, sample_weight=weight)
        self.oof_proba_ = np.zeros(len(y))
        for train, test in splits:
            stacker = clone(self.stacker_).fit(
                logit(oof[train]), y[train], sample_weight=_rows(weight, train)
            )
            self.oof_proba_[test] = stacker.predict_proba(logit(oof[test]))[:, 1]
        self.base_models_ = [_fit(m, X, y, weight) for m in self._base_models(splits)]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities of ``classes_`` (columns in that order)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=float, reset=False)
        base = np.column_stack([m.predict_proba(X)[:, 1] for m in self.base_models_])
        return self.stacker_.predict_proba(logit(base))

    def predict(self, X: np.ndarray) -> np.ndarray:
        positive = self.predict_proba(X)[:, 1] >= 0.5
        return self.classes_[positive.astype(int)]


def binary_classes(y: np.ndarray, estimator: str) -> tuple[np.ndarray, np.ndarray]:
    """The two classes of ``y`` and ``y`` coded 0/1 (1: the larger label); ``ValueError``
    naming ``estimator`` unless ``y`` holds exactly two classes."""
    check_classification_targets(y)
    classes, coded = np.unique(y, return_inverse=True)
    if classes.size != 2:
        shown = classes.tolist() if classes.size <= 10 else f"{classes[:10].tolist()}..."
        raise ValueError(
            f"{estimator}: Only binary classification is supported (an outcome of two "
            f"classes); y has {classes.size} class(es): {shown}"
        )
    return classes, coded


def _rows(weight: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if weight is None else weight[rows]


def _fit(
    model: BaseEstimator, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None
) -> BaseEstimator:
    """Fit with sample weights (none given: unweighted, which is also much faster for HGB)."""
    if hasattr(model, "steps"):
        return model.fit(X, y, **{f"{model.steps[-1][0]}__sample_weight": weight})
    return model.fit(X, y, sample_weight=weight)
