"""Study embeddings as model features: the label-efficient heads.

The triage and risk models (the same stacked, calibrated classifiers, evaluated by the same
grouped nested cross-validation) fit one of :data:`FEATURE_SETS`:

- ``biomarkers``: biomarker z-scores plus age, sex and BMI
  (:func:`~msklabel.clinical.features.feature_matrix`);
- ``embeddings``: the knee's study peak vector (:mod:`msklabel.features`:
  :data:`~msklabel.features.embedding.PEAK_POOLING`, the slices' cell maxima, which keep a
  small finding that cell means dilute) alone;
- ``embeddings+biomarkers``: both, concatenated.

A knee's embedding is read from ``<folder>/<knee id>/``, what ``msklabel embed SERIES --out
<folder>/<knee id>`` writes; a risk table's knee has one embedding (its study), used at
every landmark.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from msklabel.errors import InputError

FEATURE_SETS = ("biomarkers", "embeddings", "embeddings+biomarkers")


def read_embeddings(folder: str | os.PathLike[str], knees: Iterable[str]) -> dict[str, np.ndarray]:
    """The study peak vector of every knee id in ``knees`` from ``folder/<knee id>/``; all
    must come from one encoder with the same weights."""
    from msklabel.features import load_embedding

    root = Path(folder)
    vectors, models = {}, set()
    for knee in dict.fromkeys(str(k) for k in knees):
        if Path(knee).name != knee or knee in ("", ".", ".."):
            raise InputError(knee, "a knee id that is not a plain folder name")
        embedding, _ = load_embedding(root / knee)
        try:
            vectors[knee] = embedding.study_peaks
        except ValueError as error:
            raise InputError(root / knee, str(error)) from None
        models.add((embedding.model_id, embedding.weights_sha256))
    if len(models) > 1:
        raise InputError(root, f"embeddings from {len(models)} different encoders or weights")
    return vectors


def model_features(
    biomarkers: np.ndarray,
    knees: Iterable[str],
    embeddings: Mapping[str, np.ndarray] | None,
    features: str,
) -> np.ndarray:
    """The rows of ``features`` (:data:`FEATURE_SETS`): the ``biomarkers`` feature rows, the
    embeddings of the rows' ``knees``, or both side by side."""
    if features not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {features!r} (known: {', '.join(FEATURE_SETS)})")
    if features == "biomarkers":
        return np.asarray(biomarkers, float)
    if embeddings is None:
        raise ValueError(f"the {features!r} features need the knees' embeddings")
    keys = [str(k) for k in knees]
    missing = [k for k in keys if k not in embeddings]
    if missing:
        raise ValueError(f"no embedding for the knees {', '.join(missing[:5])}")
    vectors = np.stack([np.asarray(embeddings[k], float) for k in keys])
    if features == "embeddings":
        return vectors
    return np.hstack([vectors, np.asarray(biomarkers, float)])


def feature_blocks(width: int, biomarker_width: int, features: str) -> tuple[int, ...] | None:
    """The column blocks of :func:`model_features` of ``width`` columns that get a base model
    each (:class:`~msklabel.clinical.stacking.StackedClassifier` ``blocks``): the embedding
    and the biomarkers when both are there, else None (one block)."""
    if features != "embeddings+biomarkers":
        return None
    return (width - biomarker_width, biomarker_width)


def model_feature_names(biomarker_names: list[str], width: int, features: str) -> list[str]:
    """The column names of :func:`model_features` of ``width`` columns: ``embedding_<i>``
    for the embedding's dimensions, then ``biomarker_names`` where they are included."""
    kept = list(biomarker_names) if features.endswith("biomarkers") else []
    return [*(f"embedding_{i}" for i in range(width - len(kept))), *kept]
