"""The three-stage knee triage cascade.

- Stage A flags any abnormality, at a threshold that keeps the configured
  specificity (90% by default) on the training knees' out-of-fold predictions;
  knees it does not flag leave the reading list.
- Stage B flags bone or cartilage abnormality among the knees stage A flagged.
- Stage C localises, among the knees stage B flagged: per joint (femur, tibia,
  patella) and per tissue (cartilage, bone, meniscus).

Each stage target is a :class:`~msklabel.clinical.stacking.StackedClassifier`.
Stages B and C are trained on the training knees that stage A flagged *out of fold*,
the population they meet in use (stage C is trained there rather than on B's flagged
knees, which are nearly all positive for cartilage, so that its models and thresholds
rest on enough negatives), but its thresholds are chosen on the knees stage B flagged,
the population they are applied to (see :func:`threshold_rows`). Every threshold is
chosen on out-of-fold predictions: nothing is tuned on predictions of a model that saw
the knee.

A knee's decision for a stage B or C target means something only where the knee reached
that stage: :meth:`TriageCascade.decide` returns the decisions with a separate ``reached``
mask (:class:`CascadeDecisions`); :meth:`TriageCascade.predict` gives the gated 0/1 flags
(a stage not reached flags nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from .metrics import auc, threshold_at_specificity
from .stacking import StackedClassifier

#: Cascade stages and their targets, in the column order of ``Y``.
STAGES: dict[str, tuple[str, ...]] = {
    "A": ("any",),
    "B": ("bone_or_cartilage",),
    "C": ("femur", "tibia", "patella", "cartilage", "bone", "meniscus"),
}
TARGET_NAMES: tuple[str, ...] = tuple(t for targets in STAGES.values() for t in targets)
STAGE_OF: dict[str, str] = {t: s for s, targets in STAGES.items() for t in targets}
_MIN_CLASS = 5


@dataclass(frozen=True)
class StageFlow:
    """Knees entering a stage and flagged by it (all counted on one population)."""

    stage: str
    target: str
    n_in: int
    n_flagged: int
    positives_in: int
    positives_flagged: int

    @property
    def n_removed(self) -> int:
        return self.n_in - self.n_flagged


@dataclass(frozen=True)
class CascadeDecisions:
    """Per knee and target (columns :data:`TARGET_NAMES`): whether the knee reached the
    target's stage, and whether the target's model flagged it (meaningful where reached)."""

    flagged: np.ndarray  #: bool, the model's probability at or above its threshold
    reached: np.ndarray  #: bool, stage A always; B where A flagged; C where A and B flagged

    @property
    def positive(self) -> np.ndarray:
        """Flagged by a stage the knee reached: the cascade's gated decision."""
        return self.flagged & self.reached


class TriageCascade(BaseEstimator):
    """Stage A / B / C triage on a feature matrix.

    Parameters
    ----------
    specificity:
        Specificity kept at stage A (on out-of-fold training predictions).
    later_specificity:
        Specificity kept at stages B and C, among the knees stage A flagged.
    n_splits, boosting, random_state, blocks:
        Passed to every stage's :class:`StackedClassifier`.
    """

    def __init__(
        self,
        specificity: float = 0.9,
        later_specificity: float = 0.9,
        n_splits: int = 3,
        boosting: bool = True,
        random_state: int = 0,
        blocks: tuple[int, ...] | None = None,
    ) -> None:
        self.specificity = specificity
        self.later_specificity = later_specificity
        self.n_splits = n_splits
        self.boosting = boosting
        self.random_state = random_state
        self.blocks = blocks

    def fit(
        self, X: np.ndarray, Y: np.ndarray, *, groups: np.ndarray | None = None
    ) -> TriageCascade:
        """Fit on features ``X`` and 0/1 targets ``Y`` with columns :data:`TARGET_NAMES`;
        ``groups``: the subject of each knee (a routable fit parameter, as for
        :class:`StackedClassifier`)."""
        X, Y = validate_data(self, X, Y, dtype=float, multi_output=True)
        if Y.ndim != 2 or Y.shape[1] != len(TARGET_NAMES):
            raise ValueError(f"Y needs {len(TARGET_NAMES)} columns: {', '.join(TARGET_NAMES)}")
        if not np.isin(Y, (0, 1)).all():
            raise ValueError(f"Y holds 0/1 targets; found {np.unique(Y)[:10].tolist()}")
        Y = Y.astype(int)
        groups = np.arange(len(X)) if groups is None else np.asarray(groups)
        self.models_: dict[str, StackedClassifier] = {}
        self.thresholds_: dict[str, float] = {}
        self.flow_: list[StageFlow] = []
        flagged_by_a = np.arange(len(X))
        flagged_by_b = np.ones(len(X), bool)
        for stage, targets in STAGES.items():
            rows = np.arange(len(X)) if stage == "A" else flagged_by_a
            specificity = self.specificity if stage == "A" else self.later_specificity
            for target in targets:
                y = Y[rows, TARGET_NAMES.index(target)]
                _check_classes(y, stage, target)
                model = StackedClassifier(
                    n_splits=self.n_splits, boosting=self.boosting,
                    random_state=self.random_state, blocks=self.blocks,
                ).fit(X[rows], y, groups=groups[rows])  # fmt: skip
                seen = threshold_rows(stage, y, flagged_by_b)
                threshold = threshold_at_specificity(y[seen], model.oof_proba_[seen], specificity)
                flagged = model.oof_proba_ >= threshold
                self.models_[target], self.thresholds_[target] = model, threshold
                self.flow_.append(_flow(stage, target, y[seen], flagged[seen]))
                if stage == "A":
                    flagged_by_a = rows[flagged]
                elif stage == "B":
                    flagged_by_b = flagged
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability of every target (columns :data:`TARGET_NAMES`) for every knee.

        The probabilities of stages B and C are conditional on reaching the stage.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=float, reset=False)
        return np.column_stack([self.models_[t].predict_proba(X)[:, 1] for t in TARGET_NAMES])

    def decide(self, proba: np.ndarray) -> CascadeDecisions:
        """Decisions and the stages reached, from :meth:`predict_proba`."""
        check_is_fitted(self)
        flagged = np.asarray(proba) >= np.array([self.thresholds_[t] for t in TARGET_NAMES])
        a, b = TARGET_NAMES.index("any"), TARGET_NAMES.index("bone_or_cartilage")
        by_stage = {"A": np.ones(len(flagged), bool), "B": flagged[:, a],
                    "C": flagged[:, a] & flagged[:, b]}  # fmt: skip
        reached = np.column_stack([by_stage[STAGE_OF[t]] for t in TARGET_NAMES])
        return CascadeDecisions(flagged, reached)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Gated 0/1 decisions (columns :data:`TARGET_NAMES`): 1 where the knee reached the
        target's stage and was flagged; :meth:`decide` tells a stage not reached apart."""
        return self.decide(self.predict_proba(X)).positive.astype(int)

    def score(self, X: np.ndarray, Y: np.ndarray) -> float:
        """AUC of stage A."""
        return auc(np.asarray(Y)[:, 0], self.models_["any"].predict_proba(X)[:, 1])


def cascade_flow(Y: np.ndarray, decisions: CascadeDecisions) -> list[StageFlow]:
    """Counts per stage and target from held-out targets and decisions."""
    Y = np.asarray(Y)
    out = []
    for j, target in enumerate(TARGET_NAMES):
        reached = decisions.reached[:, j]
        out.append(_flow(STAGE_OF[target], target, Y[reached, j], decisions.flagged[reached, j]))
    return out


def threshold_rows(stage: str, y: np.ndarray, flagged_by_b: np.ndarray) -> np.ndarray:
    """Where a stage's threshold is chosen, as a mask over the knees it was trained on.

    Stage C is trained on the knees stage A flagged but meets only those stage B also
    flagged (out of fold), so its threshold is chosen there; on all its training knees
    only if stage B's flagged knees hold no negative for the target.
    """
    if stage != "C":
        return np.ones(y.size, bool)
    if not np.any(y[flagged_by_b] == 0):
        return np.ones(y.size, bool)
    return flagged_by_b


def _flow(stage: str, target: str, y: np.ndarray, flagged: np.ndarray) -> StageFlow:
    return StageFlow(
        stage,
        target,
        int(y.size),
        int(flagged.sum()),
        int(y.sum()),
        int((flagged & (y == 1)).sum()),
    )


def _check_classes(y: np.ndarray, stage: str, target: str) -> None:
    positives = int(y.sum())
    if min(positives, y.size - positives) < _MIN_CLASS:
        raise ValueError(
            f"stage {stage} ({target}): {positives} positive and {y.size - positives} negative "
            f"knees reach it; at least {_MIN_CLASS} of each are needed"
        )
