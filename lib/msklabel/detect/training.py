"""Training the detector from label volumes: synthesised images, centre-point losses, on the
chosen device (:mod:`msklabel.device`; images are synthesised on the CPU)."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from msklabel.data.labelmaps import MAX_TISSUE
from msklabel.detect.classes import CLASS_OF_LABEL, DetectorClass
from msklabel.detect.detector import Detector
from msklabel.detect.model import STRIDE, CentreNet
from msklabel.detect.synth import ImageBank, LabelledSeries, SliceBank, synthesise
from msklabel.device import resolve_device
from msklabel.errors import InputError
from msklabel.io.nifti import read_nifti
from msklabel.volume import Volume

log = logging.getLogger(__name__)

#: Called after each step with (step, steps, loss).
ProgressCallback = Callable[[int, int, float], None]


#: The learning-rate schedule (one cycle, 10% warm-up) needs this many steps.
MIN_STEPS = 20


@dataclass(frozen=True)
class TrainConfig:
    """How long and how the detector trains."""

    steps: int = 1500
    batch_size: int = 24
    learning_rate: float = 3e-3
    seed: int = 0
    widths: tuple[int, ...] = (16, 24, 40, 64, 96)
    #: Neighbouring slices either side that the network sees with each slice.
    context: int = 0

    def __post_init__(self) -> None:
        if self.steps < MIN_STEPS or self.batch_size < 1:
            raise ValueError(f"training needs at least {MIN_STEPS} steps of at least one image")
        if self.context < 0:
            raise ValueError(f"context must be 0 or more slices, got {self.context}")


def as_label_volume(
    labels: Volume | np.ndarray, spacing: Sequence[float] = (1.0, 0.8, 0.8)
) -> Volume:
    """A label volume; a plain ``[slice, row, column]`` array is taken as sagittal slices in
    display orientation (rows inferior, columns posterior) with ``spacing`` mm."""
    if isinstance(labels, Volume):
        return labels
    array = np.asarray(labels)
    if array.ndim != 3:
        raise ValueError(f"a label volume needs 3 dimensions, got shape {array.shape}")
    affine = np.eye(4)
    affine[:3, :3] = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]]).T * np.asarray(
        spacing, float
    )
    return Volume(array, affine)


def read_labelled(
    image_file: str | os.PathLike[str], label_file: str | os.PathLike[str]
) -> LabelledSeries:
    """A NIfTI image and its NIfTI label map (on the image's grid) as a labelled series."""
    labels, image = read_nifti(label_file), read_nifti(image_file)
    try:
        return LabelledSeries(labels, (image,))
    except ValueError as error:
        raise InputError(image_file, f"cannot train on it with {label_file}: {error}") from None


def train_detector(
    labels: Iterable[Volume | np.ndarray | LabelledSeries],
    config: TrainConfig = TrainConfig(),
    progress: bool = True,
    callback: ProgressCallback | None = None,
    spacing: Sequence[float] = (1.0, 0.8, 0.8),
    device: str | torch.device = "auto",
) -> Detector:
    """Train a detector on label volumes (values of :class:`~msklabel.labels.KneeLabel`, and
    12 for the fibula if labelled; others are ignored as plain tissue).

    Volumes need sagittal slices or enough resolution to be resliced sagittally; plain arrays
    are read as by :func:`as_label_volume`. Training images are synthesised from the labels
    (:mod:`msklabel.detect.synth`); a :class:`~msklabel.detect.synth.LabelledSeries` adds its
    own images, which then make a share of every batch. The same ``config.seed`` gives the
    same weights on the same machine, torch build and device. Progress is shown with tqdm
    (``progress``) and reported to ``callback``. The network trains on ``device``.
    """
    items = list(labels)
    series = [item for item in items if isinstance(item, LabelledSeries)]
    volumes = [_checked(_label_volume(item, spacing)) for item in items]
    if not volumes:
        raise ValueError("no label volumes to train on")
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    bank = SliceBank.of(volumes)
    imaged = ImageBank.of(series)
    device = resolve_device(device)
    network = CentreNet(len(DetectorClass), config.widths, config.context).to(device)
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.learning_rate, total_steps=config.steps, pct_start=0.1
    )
    network.train()
    started = time.perf_counter()
    bar = tqdm(range(config.steps), desc="training detector", unit="step", disable=not progress)
    running = math.nan
    for step in bar:
        batch = synthesise(bank, config.batch_size, generator, imaged, config.context)
        boxes, present = batch.boxes.to(device), batch.present.to(device)
        loss = centre_loss(network(batch.images.to(device)), boxes, present)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        value = float(loss.detach())
        running = value if math.isnan(running) else 0.95 * running + 0.05 * value
        bar.set_postfix(loss=f"{running:.3f}")
        if callback is not None:
            callback(step + 1, config.steps, value)
    info = {
        "config": asdict(config),
        "slices": len(bank),
        "imaged_slices": len(imaged),
        "volumes": len(volumes),
        "final_loss": round(running, 4),
        "seconds": round(time.perf_counter() - started, 1),
        "torch": str(torch.__version__),
        "device": str(device),
    }
    log.info("trained the detector: %s", info)
    return Detector(network, info)


def _label_volume(item: Volume | np.ndarray | LabelledSeries, spacing: Sequence[float]) -> Volume:
    return item.labels if isinstance(item, LabelledSeries) else as_label_volume(item, spacing)


def _checked(volume: Volume) -> Volume:
    values = np.unique(volume.array)
    if values.min() < 0 or values.max() > MAX_TISSUE:
        raise ValueError(
            f"label values must lie in 0..{MAX_TISSUE}, got {values.min()}..{values.max()}"
        )
    if not np.isin(values, list(CLASS_OF_LABEL)).any():
        raise ValueError("a label volume holds none of the detected structures")
    return Volume(volume.array.astype(np.uint8), volume.affine)


def centre_loss(
    outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    boxes: torch.Tensor,
    present: torch.Tensor,
) -> torch.Tensor:
    """Focal loss on centre heat maps plus L1 on log sizes and offsets at the true centres."""
    heatmap, size, offset = outputs
    n, classes, h, w = heatmap.shape
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2 / STRIDE  # [n, C, 2] in cells (x, y)
    cell = centre.floor().clamp(0, w - 1)
    extent = (boxes[..., 2:] - boxes[..., :2]).clamp(min=1.0)  # input pixels
    sigma = (extent.min(-1).values / STRIDE / 6).clamp(min=0.7)
    ys = torch.arange(h, dtype=torch.float32, device=heatmap.device)[:, None]
    xs = torch.arange(w, dtype=torch.float32, device=heatmap.device)[None]
    distance = (xs - cell[..., 0, None, None]) ** 2 + (ys - cell[..., 1, None, None]) ** 2
    target = torch.exp(-distance / (2 * sigma[..., None, None] ** 2)) * present[..., None, None]

    probability = torch.sigmoid(heatmap).clamp(1e-4, 1 - 1e-4)
    positive = target >= 1.0 - 1e-6
    positive_loss = -((1 - probability) ** 2) * torch.log(probability) * positive
    negative_loss = -((1 - target) ** 4) * probability**2 * torch.log(1 - probability) * ~positive
    count = positive.sum().clamp(min=1)
    focal = (positive_loss.sum() + negative_loss.sum()) / count

    index = (cell[..., 1] * w + cell[..., 0]).long()  # [n, C]
    chosen = present.float()
    predicted_size = size.flatten(3).gather(3, index[:, :, None, None].expand(n, classes, 2, 1))[
        ..., 0
    ]
    size_loss = (F.l1_loss(predicted_size, extent.log(), reduction="none").sum(-1) * chosen).sum()
    predicted_offset = offset.flatten(2)[:, None].expand(n, classes, 2, h * w)
    predicted_offset = predicted_offset.gather(3, index[:, :, None, None].expand(n, classes, 2, 1))[
        ..., 0
    ]
    true_offset = centre - cell - 0.5
    offset_loss = (
        F.l1_loss(predicted_offset, true_offset, reduction="none").sum(-1) * chosen
    ).sum()
    return focal + (size_loss + offset_loss) / count
