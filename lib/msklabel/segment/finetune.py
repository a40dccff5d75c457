"""Fine-tuning a backend's mask decoder (optionally its image encoder) on labelled volumes.

Each step draws slices that hold a label, prompts with the label's box jittered by a share of
its size, and minimises Dice + binary cross-entropy between the decoder's low-resolution
logits and the label. With a frozen encoder, every training slice is encoded once up front.
Training runs on the backend's device (:mod:`msklabel.device`).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from msklabel.io.checksum import file_digest
from msklabel.segment.backends.base import TrainableBackend
from msklabel.segment.intensity import Window
from msklabel.segment.prompts import Box
from msklabel.volume import Volume


@dataclass(frozen=True)
class FinetuneConfig:
    """Training settings: ``jitter`` moves each box side by up to that share of the box size."""

    steps: int = 200
    batch_size: int = 4
    learning_rate: float = 1e-4
    jitter: float = 0.1
    min_area: int = 10
    train_encoder: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError(f"invalid fine-tuning settings {self}")
        if not 0 <= self.jitter < 0.5 or self.min_area < 1:
            raise ValueError(f"invalid fine-tuning settings {self}")


@dataclass(frozen=True)
class TrainingSlices:
    """Windowed slices and the boolean mask of one label on each."""

    images: np.ndarray
    masks: np.ndarray

    @classmethod
    def collect(
        cls,
        cases: Sequence[tuple[Volume, Volume]],
        labels: Sequence[int],
        min_area: int = 10,
        percentiles: tuple[float, float] = (0.5, 99.5),
    ) -> TrainingSlices:
        """Every (slice, label) of ``cases`` (image, label volume) with at least ``min_area``."""
        images, masks = [], []
        for image, label_volume in cases:
            if image.shape != label_volume.shape:
                raise ValueError(f"image {image.shape} and labels {label_volume.shape} differ")
            windowed = Window.robust(image.array, *percentiles).apply(image.array)
            for label in labels:
                present = (label_volume.array == label).sum(axis=(1, 2)) >= min_area
                for index in np.flatnonzero(present):
                    images.append(windowed[index])
                    masks.append(label_volume.array[index] == label)
        if not images:
            raise ValueError(f"no slice holds labels {list(labels)}")
        return cls(np.stack(images), np.stack(masks))


def finetune(
    backend: TrainableBackend,
    training: TrainingSlices,
    checkpoint: str | os.PathLike[str],
    config: FinetuneConfig = FinetuneConfig(),
) -> TrainableBackend:
    """Train a copy of ``backend`` and write its checkpoint; returns the trained backend.

    The checkpoint loads back with ``load_backend(backend.name, checkpoint=...)``.
    """
    trained = copy.copy(backend)
    trained.network = copy.deepcopy(backend.network)
    generator = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    shape = training.images.shape[1:]
    targets = trained.masks_to_model(training.masks)
    boxes = np.stack([Box.around(mask, 0).xyxy for mask in training.masks])
    frozen = None if config.train_encoder else torch.stack(trained.encode(training.images)).clone()
    parameters = list(trained.network.mask_decoder.parameters())
    if config.train_encoder:
        parameters += list(trained.encoder.parameters())
    for parameter in trained.network.parameters():
        parameter.requires_grad_(False)
    for parameter in parameters:
        parameter.requires_grad_(True)
    optimiser = torch.optim.AdamW(parameters, lr=config.learning_rate)
    trained.network.train()
    progress = tqdm(range(config.steps), desc=f"fine-tuning {backend.name}", unit="step")
    for _ in progress:
        batch = generator.choice(len(training.images), size=config.batch_size)
        if frozen is None:
            embeddings = trained.encode_tensor(torch.from_numpy(training.images[batch]))
        else:
            embeddings = frozen[batch]
        jittered = _jitter(boxes[batch], config.jitter, shape, generator)
        prompts = torch.as_tensor(
            trained.boxes_to_model(jittered, shape), dtype=torch.float32, device=trained.device
        )
        loss = dice_bce_loss(trained.decode_boxes(embeddings, prompts), targets[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        progress.set_postfix(loss=f"{loss.item():.3f}")
    trained.network.eval()
    for parameter in trained.network.parameters():
        parameter.requires_grad_(False)
    path = Path(checkpoint)
    trained.save_checkpoint(path)
    trained.model_id = f"{backend.name}:{file_digest(path)[:16]}"
    return trained


def dice_bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Soft Dice loss plus binary cross-entropy, averaged over the batch."""
    probabilities = torch.sigmoid(logits)
    overlap = (probabilities * targets).sum(dim=(1, 2, 3))
    total = probabilities.sum(dim=(1, 2, 3)) + targets.sum(dim=(1, 2, 3))
    dice = 1 - (2 * overlap + 1) / (total + 1)
    return dice.mean() + F.binary_cross_entropy_with_logits(logits, targets)


def _jitter(
    boxes: np.ndarray, share: float, shape: tuple[int, int], generator: np.random.Generator
) -> np.ndarray:
    size = np.tile(boxes[:, 2:] - boxes[:, :2] + 1, 2)
    moved = boxes + generator.uniform(-share, share, boxes.shape) * size
    high = np.array([shape[1] - 1, shape[0] - 1] * 2)
    low = np.minimum(moved[:, :2], moved[:, 2:])
    return np.clip(np.hstack([low, np.maximum(moved[:, :2], moved[:, 2:])]), 0, high)
