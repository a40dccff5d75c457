"""Running the network over a sagittal series: class probabilities on the series' grid."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from msklabel.detect.view import SagittalView, reorient_sagittal
from msklabel.kneeseg.network import MULTIPLE, KneeSegmenter, echo_pair
from msklabel.kneeseg.synth import OUT_PIXEL_MM, window
from msklabel.volume import Volume

#: Slices run through the network at once.
BATCH = 4


def predict_probabilities(
    segmenter: KneeSegmenter, echoes: Sequence[Volume], progress: bool = False
) -> np.ndarray:
    """Class probabilities ``[classes, slice, row, column]`` (float32) on the grid of the
    echoes, whose slices must be sagittal."""
    early, late = echo_pair(echoes)
    if early.shape != late.shape:
        raise ValueError("the echoes must share one grid")
    reorient_sagittal(early)  # raises NotSagittalError for other slice orientations
    view = SagittalView.of(early)
    stacked = np.stack([view.apply(early.array), view.apply(late.array)], 1).astype(np.float32)
    rows, columns = view.display_shape
    dr, dc = view.display_spacing
    height, width = round(rows * dr / OUT_PIXEL_MM), round(columns * dc / OUT_PIXEL_MM)
    padding = (0, _padding(width), 0, _padding(height))
    out = []
    network = segmenter.network.eval()
    batches = range(0, stacked.shape[0], BATCH)
    with torch.inference_mode():
        for first in tqdm(batches, desc="segmenting slices", unit="batch", disable=not progress):
            images = torch.from_numpy(stacked[first : first + BATCH])
            images = window(images)
            images = F.interpolate(images, size=(height, width), mode="bilinear", antialias=True)
            logits = network(F.pad(images, padding))[:, :, :height, :width]
            logits = F.interpolate(logits, size=(rows, columns), mode="bilinear")
            out.append(torch.softmax(logits, 1).numpy())
    display = np.concatenate(out)  # [slices, classes, rows, columns]
    return np.stack([_undo_view(view, display[:, c]) for c in range(display.shape[1])])


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
