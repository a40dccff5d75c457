"""Segment a sagittal knee series with the shipped network: no prompts, every structure."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from msklabel.device import resolve_device
from msklabel.io.acquisition import Acquisition, Laterality
from msklabel.kneeseg.anatomy import Sides, knee_labels
from msklabel.kneeseg.classes import SIDED, UNSIDED, SegClass
from msklabel.kneeseg.inference import predict
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


@dataclass(frozen=True)
class KneeSegmentation(Segmentation):
    """A knee label map, its scores, the :class:`~msklabel.kneeseg.anatomy.Sides` its
    medial and lateral labels were assigned for, and each label's :func:`zoom_spread`."""

    sides: Sides
    zoom_spread: dict[int, float] = field(default_factory=dict)


def segment_knee(
    echoes: Sequence[Volume],
    segmenter: KneeSegmenter | None = None,
    laterality: Laterality | None = None,
    progress: bool = True,
) -> KneeSegmentation:
    """Every knee structure of a sagittal series: ``echoes`` are its volumes (one, or the
    echoes of a multi-echo series), all on one grid; the labels lie on that grid.

    Which knee it is: ``laterality``, else the header of the first echo's series ((Image)
    Laterality), else the fibula's side where it is clear, else it is assumed (``sides``
    says which). ``scores[label][k]`` is the mean probability the network gave the label's
    voxels on slice ``k`` (NaN where the label is absent): a confidence per slice;
    ``zoom_spread[label]``: :func:`zoom_spread`.
    """
    segmenter = segmenter or load_segmenter()
    reference = echoes[0]
    source = "given"
    if laterality is None:
        laterality, source = Acquisition.of(reference).laterality, "header"
    prediction = predict(segmenter, echoes, progress)
    labels, sides = knee_labels(
        prediction.classes, reference, laterality, source, prediction.likely
    )
    confidence = prediction.confidence
    named = [*UNSIDED.values(), *(label for pair in SIDED.values() for label in pair)]
    scores = {int(label): _slice_means(confidence, labels == label) for label in named}
    spread = zoom_spread(labels, prediction.zoom_classes, reference, sides, prediction.zoom_likely)
    return KneeSegmentation(reference.with_array(labels), scores, sides, spread)


def zoom_spread(
    labels: np.ndarray,
    zoom_classes: Sequence[np.ndarray],
    reference: Volume,
    sides: Sides,
    zoom_likely: Sequence[Mapping[SegClass, np.ndarray]] | None = None,
) -> dict[int, float]:
    """How much each label's size depends on the zoom the network saw the slices at: the
    range of its voxel count over the zooms' own answers (each zoom's classes, with its
    likely voxels where given, through the same anatomical rules and ``sides``), as a share
    of its count in ``labels`` (the answer from the mean). A structure whose answer changes
    with a 10 % zoom is not one to trust: the quality gate's ``zoom_spread`` rule."""
    final = np.bincount(labels.ravel(), minlength=256)
    # one zoom at a time: on threads it took 0.9 s instead of 1.2 s on the sample, but raised
    # the process's peak memory by 80 MiB (three zooms' distance maps at once)
    counts = [
        np.bincount(
            knee_labels(classes, reference, sides.laterality, "given", likely)[0].ravel(),
            minlength=256,
        )
        for classes, likely in zip(
            zoom_classes, zoom_likely or [None] * len(zoom_classes), strict=True
        )
    ]
    sizes = np.stack(counts)
    spread = (sizes.max(0) - sizes.min(0)) / np.maximum(final, 1)
    return {int(label): float(spread[label]) for label in np.nonzero(final[1:])[0] + 1}


def _slice_means(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    counts = mask.sum((1, 2))
    sums = np.where(mask, values, 0).sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)
