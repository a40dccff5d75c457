"""Running the network over a sagittal series: class probabilities on the series' grid."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from msklabel.detect.view import SagittalView, reorient_sagittal
from msklabel.kneeseg.anatomy import LIKELY_PROBABILITY
from msklabel.kneeseg.classes import SegClass
from msklabel.kneeseg.network import MULTIPLE, KneeSegmenter, echo_pairs
from msklabel.kneeseg.synth import OUT_PIXEL_MM, TRAINED_PIXEL_MM, window
from msklabel.volume import Volume

#: Slices run through the network at once on a CPU, and on a GPU.
BATCH = 2
GPU_BATCH = 32
#: Zooms of the test-time augmentation: each slice is segmented at these pixel sizes
#: (relative to :func:`network_pixel_mm`) and the probabilities averaged.
SCALES = (0.9, 1.0, 1.1)


@dataclass(frozen=True)
class Prediction:
    """The network's answer on a series, all on the series' grid: the class and its
    probability where the mean of the probabilities over zooms and echo pairs is highest, the
    voxels likely to belong to each bone of
    :data:`~msklabel.kneeseg.anatomy.LIKELY_PROBABILITY`, and each zoom's own classes and
    likely voxels."""

    classes: np.ndarray  #: uint8 ``[slice, row, column]``: argmax of the mean probabilities
    confidence: np.ndarray  #: float32 ``[slice, row, column]``: the mean probability's max
    #: bool ``[slice, row, column]`` per bone: its mean probability reaches its threshold
    likely: dict[SegClass, np.ndarray]
    zoom_classes: tuple[np.ndarray, ...]  #: one uint8 ``[slice, row, column]`` per zoom
    zoom_likely: tuple[dict[SegClass, np.ndarray], ...]  #: :attr:`likely`, per zoom


def predict(
    segmenter: KneeSegmenter,
    echoes: Sequence[Volume],
    progress: bool = False,
    scales: Sequence[float] = SCALES,
    likely: Mapping[SegClass, float] = LIKELY_PROBABILITY,
) -> Prediction:
    """The network's :class:`Prediction` on the echoes, whose slices must be sagittal: the
    mean of its probabilities over the echo pairs of :func:`echo_pairs` (one for a single
    image) and over the slices zoomed by each of ``scales`` around :func:`network_pixel_mm`;
    each zoom's classes (its mean over the pairs); for each class of ``likely``, the voxels
    where its mean probability reaches the given threshold, over all zooms and per zoom. The
    network runs on its own device (``segmenter.device``). Slices are done a batch at a time,
    every pair and zoom of a batch before the next, so no probability map of the whole series
    is held."""
    pairs = echo_pairs(echoes)
    if any(v.shape != pairs[0][0].shape for pair in pairs for v in pair):
        raise ValueError("the echoes must share one grid")
    reference = pairs[0][0]
    reorient_sagittal(reference)  # raises NotSagittalError for other slice orientations
    view = SagittalView.of(reference)
    rows, columns = view.display_shape
    dr, dc = view.display_spacing
    pixel_mm = network_pixel_mm((dr, dc))
    network, device = segmenter.network.eval(), segmenter.device
    batch = BATCH if device.type == "cpu" else GPU_BATCH
    # Kept in the volume's own orientation and written through display-oriented views.
    classes = np.zeros(reference.shape, np.uint8)
    confidence = np.zeros(reference.shape, np.float32)
    zoom_classes = np.zeros((len(scales), *reference.shape), np.uint8)
    found = {bone: np.zeros((len(scales) + 1, *reference.shape), bool) for bone in likely}
    shown = [_display(view, a) for a in (classes, confidence, zoom_classes)]
    likely_shown = {bone: _display(view, a) for bone, a in found.items()}
    with torch.inference_mode():
        for first in tqdm(
            range(0, reference.shape[0], batch), desc="segmenting slices", unit="batch",
            disable=not progress,
        ):  # fmt: skip
            chosen = slice(first, first + batch)
            inputs = [
                window(torch.from_numpy(_pair_slices(view, early, late, chosen)).to(device))
                for early, late in pairs
            ]
            total = None
            for index, scale in enumerate(scales):
                height = round(rows * dr / (pixel_mm * scale))
                width = round(columns * dc / (pixel_mm * scale))
                padding = (0, _padding(width), 0, _padding(height))
                zoom = None
                for images in inputs:
                    zoomed = F.interpolate(
                        images, size=(height, width), mode="bilinear", antialias=True
                    )
                    # channels last: oneDNN's convolutions run without reordering (0.83x time)
                    padded = F.pad(zoomed, padding).contiguous(memory_format=torch.channels_last)
                    logits = network(padded)[:, :, :height, :width]
                    logits = F.interpolate(logits, size=(rows, columns), mode="bilinear")
                    probabilities = torch.softmax(logits, 1).cpu().numpy()
                    zoom = probabilities if zoom is None else zoom + probabilities
                shown[2][index, chosen] = zoom.argmax(1)
                for bone, threshold in likely.items():
                    likely_shown[bone][index + 1, chosen] = zoom[:, bone] >= threshold * len(pairs)
                total = zoom if total is None else total + zoom
            total /= len(scales) * len(pairs)
            shown[0][chosen] = total.argmax(1)
            shown[1][chosen] = total.max(1)
            for bone, threshold in likely.items():
                likely_shown[bone][0, chosen] = total[:, bone] >= threshold
    per_zoom = tuple(
        {bone: a[index + 1] for bone, a in found.items()} for index in range(len(scales))
    )
    return Prediction(
        classes,
        confidence,
        {bone: a[0] for bone, a in found.items()},
        tuple(zoom_classes),
        per_zoom,
    )


def _pair_slices(view: SagittalView, early: Volume, late: Volume, chosen: slice) -> np.ndarray:
    """``[n, 2, rows, columns]`` float32: the chosen slices of an echo pair, displayed."""
    pair = [view.apply(echo.array[chosen]) for echo in (early, late)]
    return np.stack(pair, 1).astype(np.float32)


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


def _display(view: SagittalView, array: np.ndarray) -> np.ndarray:
    """A view of ``array`` (``[..., rows, columns]`` in the volume's own orientation) in the
    display orientation of ``view``: writing into it writes into ``array``."""
    out = array
    if view.transpose:
        out = np.swapaxes(out, -2, -1)
    if view.flip_rows:
        out = out[..., ::-1, :]
    if view.flip_columns:
        out = out[..., ::-1]
    return out
