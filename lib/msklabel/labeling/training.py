"""Training on the final labels of a datastore, then publishing: the segmenter's fine-tuning,
the knee detector and the knee segmentation network, each on a store's device or on the
device a call names. No task trains on the held-out share (:mod:`msklabel.labeling.curve`);
the segmenters score each published round on it, for their learning curve."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from msklabel.detect import TrainConfig, train_detector
from msklabel.detect.training import read_labelled
from msklabel.evaluation.prompts import PromptMode, simulate
from msklabel.io.nifti import read_nifti
from msklabel.kneeseg import segment_knee
from msklabel.kneeseg.training import TrainConfig as KneeSegConfig
from msklabel.kneeseg.training import train_segmenter
from msklabel.labeling.curve import Pair, record_round, training_share
from msklabel.labeling.labelset import KNEE_STRUCTURES
from msklabel.labeling.models import DetectorStore, KneeSegStore, ModelStore
from msklabel.labels import KneeLabel
from msklabel.segment.backends.base import TrainableBackend
from msklabel.segment.finetune import FinetuneConfig, TrainingSlices, finetune
from msklabel.volume import Volume

#: The structures the knee network segments (the knee label set's), by name: value.
KNEE_VALUES = {label.key: int(label) for label in KneeLabel if label.key in KNEE_STRUCTURES}


def training_slices(
    pairs: Sequence[Pair],
    labels: Sequence[int],
    max_slices: int | None = None,
    min_area: int = 10,
) -> TrainingSlices:
    """The (slice, label) examples of ``pairs`` (image file, label file), at most ``max_slices``.

    With a limit, examples are taken evenly over the list so that every image and label
    contributes; the image and its label must share their grid.
    """
    cases = [(read_nifti(image), read_nifti(label)) for image, label in pairs]
    examples = TrainingSlices.collect(cases, labels, min_area=min_area)
    if max_slices is None or len(examples.images) <= max_slices:
        return examples
    keep = np.unique(np.linspace(0, len(examples.images) - 1, max_slices).round().astype(int))
    return TrainingSlices(examples.images[keep], examples.masks[keep])


def train_and_publish(
    store: ModelStore,
    pairs: Sequence[Pair],
    labels: Mapping[str, int],
    config: FinetuneConfig,
    max_slices: int | None = None,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Fine-tune the store's current model on ``pairs`` but the held-out ones, for the
    structures ``labels`` (name: value), on ``device`` (None: the store's), publish it and
    score it on the held-out pairs with oracle boxes; returns the report."""
    if not pairs:
        raise ValueError("no image has a final label to train on")
    started = time.perf_counter()
    pairs, held = training_share(pairs, store.curve)
    examples = training_slices(pairs, list(labels.values()), max_slices, config.min_area)
    backend = store.segmenter(device).backend
    if not isinstance(backend, TrainableBackend):
        raise ValueError(f"the {backend.name} backend cannot be fine-tuned")
    staged = store.staging()
    trained = finetune(backend, examples, staged, config)
    report = {
        "model": store.spec.model,
        "base_model_id": backend.model_id,
        "model_id": trained.model_id,
        "images": len(pairs),
        "examples": len(examples.images),
        "steps": config.steps,
        "learning_rate": config.learning_rate,
        "device": str(backend.device),
        "seconds": round(time.perf_counter() - started, 1),
    }
    store.publish(staged, report)
    segmenter = store.segmenter(device)

    def segment(image: Volume, reference: Volume) -> np.ndarray:
        oracle = PromptMode.parse("oracle-box")
        values = list(labels.values())
        return simulate(segmenter.session(image), reference.array, values, oracle).labels.array

    weights_id = segmenter.backend.model_id
    record_round(store.curve, weights_id, pairs, held, segment, labels)
    return report


def train_detector_and_publish(
    store: DetectorStore,
    pairs: Sequence[Pair],
    config: TrainConfig,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Train the knee detector on the final label maps, with their images (``pairs``: image
    file, label file, on one grid), but the held-out ones, on ``device`` (None: the store's)
    and publish it; returns the report."""
    if not pairs:
        raise ValueError("no final label to train the detector on")
    pairs, _ = training_share(pairs)
    series = [read_labelled(image, label) for image, label in pairs]
    device = store.device if device is None else device
    detector = train_detector(series, config, progress=True, device=device)
    staged = store.staging()
    detector.save(staged)
    report = {"labels": len(pairs), **detector.info}
    store.publish(staged, report)
    return report


def train_kneeseg_and_publish(
    store: KneeSegStore,
    pairs: Sequence[Pair],
    config: KneeSegConfig,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Fine-tune the store's current knee network on the final label maps with their images
    (``pairs``: image file, label file, on one grid; half of each batch is those images, half
    synthesised from their labels), but the held-out ones, on ``device`` (None: the store's),
    publish it and score it on the held-out pairs; returns the report."""
    if not pairs:
        raise ValueError("no final label to train the knee network on")
    pairs, held = training_share(pairs, store.curve)
    series = [read_labelled(image, label) for image, label in pairs]
    initial = store.segmenter(device)
    segmenter = train_segmenter([], config, images=series, initial=initial, device=initial.device)
    staged = store.staging()
    segmenter.save(staged)
    report = {"labels": len(pairs), **segmenter.info}
    store.publish(staged, report)
    published = store.segmenter(device)

    def segment(image: Volume, reference: Volume) -> np.ndarray:
        return segment_knee((image,), published, progress=False).labels.array

    record_round(store.curve, published.model_id, pairs, held, segment, KNEE_VALUES)
    return report
