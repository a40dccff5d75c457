"""Segment a sagittal knee series with the shipped network: no prompts, every structure."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from msklabel.device import resolve_device
from msklabel.kneeseg.anatomy import Laterality, knee_labels
from msklabel.kneeseg.classes import SIDED, UNSIDED
from msklabel.kneeseg.inference import predict_probabilities
from msklabel.kneeseg.network import KneeSegmenter
from msklabel.segment import Segmentation
from msklabel.volume import Volume

#: The shipped weights, inside the package.
DEFAULT_WEIGHTS = "knee_sagittal_seg.pt"


def default_weights() -> Path:
    """Path of the network shipped with msklabel."""
    return Path(str(resources.files("msklabel.kneeseg").joinpath("models", DEFAULT_WEIGHTS)))


def load_segmenter(
    path: str | os.PathLike[str] | None = None, device: str | torch.device = "auto"
) -> KneeSegmenter:
    """The network in ``path`` (None: the shipped one) on ``device``. Loaded once per process
    and device."""
    path = str(Path(path).resolve()) if path is not None else str(default_weights())
    return _load(path, resolve_device(device))


@functools.lru_cache(maxsize=4)
def _load(path: str, device: torch.device) -> KneeSegmenter:
    return KneeSegmenter.load(path, device)


def segment_knee(
    echoes: Sequence[Volume],
    segmenter: KneeSegmenter | None = None,
    laterality: Laterality | None = None,
    progress: bool = True,
) -> Segmentation:
    """Every knee structure of a sagittal series: ``echoes`` are its volumes (one, or the
    echoes of a multi-echo series), all on one grid; the labels lie on that grid.

    ``scores[label][k]`` is the mean probability the network gave the label's voxels on
    slice ``k`` (NaN where the label is absent): a confidence per slice.
    """
    segmenter = segmenter or load_segmenter()
    reference = echoes[0]
    probabilities = predict_probabilities(segmenter, echoes, progress)
    classes = probabilities.argmax(0).astype(np.uint8)
    labels = knee_labels(classes, reference, laterality)
    confidence = probabilities.max(0)
    named = [*UNSIDED.values(), *(label for pair in SIDED.values() for label in pair)]
    scores = {int(label): _slice_means(confidence, labels == label) for label in named}
    return Segmentation(reference.with_array(labels), scores)


def _slice_means(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    counts = mask.sum((1, 2))
    sums = np.where(mask, values, 0).sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)
