"""Running the network over a sagittal series: class probabilities on the series' grid."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from msklabel.detect.view import SagittalView, reorient_sagittal
from msklabel.kneeseg.classes import SegClass
from msklabel.kneeseg.network import MULTIPLE, KneeSegmenter, echo_pair
from msklabel.kneeseg.synth import OUT_PIXEL_MM, TRAINED_PIXEL_MM, window
from msklabel.volume import Volume

#: Slices run through the network at once on a CPU, and on a GPU.
BATCH = 4
GPU_BATCH = 32
#: Zooms of the test-time augmentation: each slice is segmented at these pixel sizes
#: (relative to :func:`network_pixel_mm`) and the probabilities averaged.
SCALES = (0.9, 1.0, 1.1)


@dataclass(frozen=True)
class Prediction:
    """The network's answer on a series: the mean class probabilities over the zooms, and
    each zoom's own classes (its argmax), all on the series' grid."""

    probabilities: np.ndarray  #: ``[classes, slice, row, column]`` float32
    zoom_classes: tuple[np.ndarray, ...]  #: one uint8 ``[slice, row, column]`` per zoom


def predict_probabilities(
    segmenter: KneeSegmenter,
    echoes: Sequence[Volume],
    progress: bool = False,
    scales: Sequence[float] = SCALES,
) -> np.ndarray:
    """Class probabilities ``[classes, slice, row, column]`` (float32) on the grid of the
    echoes: :func:`predict`'s mean over the zooms."""
    return predict(segmenter, echoes, progress, scales).probabilities


def predict(
    segmenter: KneeSegmenter,
    echoes: Sequence[Volume],
    progress: bool = False,
    scales: Sequence[float] = SCALES,
) -> Prediction:
    """The network's :class:`Prediction` on the echoes, whose slices must be sagittal: the
    mean of its probabilities with the slices zoomed by each of ``scales`` around
    :func:`network_pixel_mm`, and each zoom's classes. The network runs on its own device
    (``segmenter.device``)."""
    early, late = echo_pair(echoes)
    if early.shape != late.shape:
        raise ValueError("the echoes must share one grid")
    reorient_sagittal(early)  # raises NotSagittalError for other slice orientations
    view = SagittalView.of(early)
    stacked = np.stack([view.apply(early.array), view.apply(late.array)], 1).astype(np.float32)
    rows, columns = view.display_shape
    dr, dc = view.display_spacing
    pixel_mm = network_pixel_mm((dr, dc))
    network, device = segmenter.network.eval(), segmenter.device
    batch = BATCH if device.type == "cpu" else GPU_BATCH
    total = np.zeros((len(SegClass), *stacked.shape[:1], rows, columns), np.float32)
    zoom_classes = np.zeros((len(scales), *stacked.shape[:1], rows, columns), np.uint8)
    steps = [
        (first, index, scale)
        for index, scale in enumerate(scales)
        for first in range(0, stacked.shape[0], batch)
    ]
    with torch.inference_mode():
        for first, index, scale in tqdm(
            steps, desc="segmenting slices", unit="batch", disable=not progress
        ):
            images = window(torch.from_numpy(stacked[first : first + batch]).to(device))
            height = round(rows * dr / (pixel_mm * scale))
            width = round(columns * dc / (pixel_mm * scale))
            images = F.interpolate(images, size=(height, width), mode="bilinear", antialias=True)
            padding = (0, _padding(width), 0, _padding(height))
            logits = network(F.pad(images, padding))[:, :, :height, :width]
            logits = F.interpolate(logits, size=(rows, columns), mode="bilinear")
            probabilities = torch.softmax(logits, 1).cpu().numpy()
            total[:, first : first + batch] += probabilities.transpose(1, 0, 2, 3)
            zoom_classes[index, first : first + batch] = probabilities.argmax(1)
    total /= len(scales)
    return Prediction(
        np.stack([_undo_view(view, total[c]) for c in range(total.shape[0])]),
        tuple(_undo_view(view, classes) for classes in zoom_classes),
    )


def network_pixel_mm(spacing: tuple[float, float]) -> float:
    """The pixel size (mm) slices of in-plane ``spacing`` are run at: their own (the finer
    axis's) when it lies within the pixel sizes the network was trained on, else the
    nominal :data:`~msklabel.kneeseg.synth.OUT_PIXEL_MM` (no resampling blur where none is
    needed)."""
    own = min(spacing)
    low, high = TRAINED_PIXEL_MM
    return own if low <= own <= high else OUT_PIXEL_MM


def _padding(size: int) -> int:
    """Pixels to add to ``size`` to reach a multiple of :data:`MULTIPLE`."""
    return MULTIPLE * math.ceil(size / MULTIPLE) - size


def _undo_view(view: SagittalView, slices: np.ndarray) -> np.ndarray:
    """Display-oriented ``[n, rows, columns]`` slices back in the volume's own orientation."""
    out = slices
    if view.flip_columns:
        out = out[:, :, ::-1]
    if view.flip_rows:
        out = out[:, ::-1]
    if view.transpose:
        out = np.swapaxes(out, 1, 2)
    return np.ascontiguousarray(out)
