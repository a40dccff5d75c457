"""Fully automatic segmentation: detector boxes become prompts for any engine backend."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from msklabel.detect.classes import AUTOMATIC_LABELS
from msklabel.detect.consistency import Rules, Structure, find_structures
from msklabel.detect.detector import Detector
from msklabel.device import resolve_device
from msklabel.io.acquisition import Acquisition
from msklabel.labels import BONES, KneeLabel
from msklabel.segment import LabelPrompt, Segmentation, Segmenter, Session, load_backend
from msklabel.segment.backends.base import TrackingBackend
from msklabel.volume import Volume

log = logging.getLogger(__name__)

#: The shipped detector's weights, inside the package.
DEFAULT_WEIGHTS = "knee_sagittal.pt"
#: Slices encoded per progress step on a CPU (on a GPU all needed slices are encoded together,
#: in the backend's batches).
ENCODE_BATCH = 4


def default_weights() -> Path:
    """Path of the detector shipped with msklabel."""
    return Path(str(resources.files("msklabel.detect").joinpath("models", DEFAULT_WEIGHTS)))


def load_detector(
    path: str | os.PathLike[str] | None = None, device: str | torch.device = "auto"
) -> Detector:
    """The detector in ``path`` (None: the one shipped in the package) on ``device``. Loaded
    once per process and device."""
    path = str(Path(path).resolve()) if path is not None else str(default_weights())
    return _load(path, resolve_device(device))


@functools.lru_cache(maxsize=4)
def _load(path: str, device: torch.device) -> Detector:
    return Detector.load(path, device)


def default_segmenter(device: str | torch.device = "auto") -> Segmenter:
    """The LiteMedSAM segmenter on ``device`` shared by every automatic segmentation in this
    process."""
    return _default_segmenter(resolve_device(device))


@functools.lru_cache(maxsize=2)
def _default_segmenter(device: torch.device) -> Segmenter:
    return Segmenter(load_backend("litemedsam", device=device))


def prompts_for(structures: Iterable[Structure], tracking: bool = False) -> list[LabelPrompt]:
    """One prompt per structure: its box on every slice of its range.

    With ``tracking`` (SAM2's video predictor), the same boxes condition its propagation, which
    then carries masks through both directions.
    """
    return [LabelPrompt(s.label, boxes=s.boxes, propagate=tracking) for s in structures]


def segment_automatic(
    volume: Volume,
    segmenter: Segmenter | None = None,
    labels: Iterable[int] | None = None,
    detector: Detector | None = None,
    progress: bool = True,
) -> Segmentation:
    """Segment every knee structure the detector finds in a sagittal ``volume``, no prompts.

    ``labels`` restricts the structures (values of :class:`~msklabel.labels.KneeLabel`);
    ``segmenter`` defaults to LiteMedSAM, ``detector`` to the shipped one. Only slices inside a
    detected range are encoded. ``scores[label]`` is NaN on slices not segmented (every slice
    of a wanted label that was not found).
    """
    wanted = _wanted(labels)
    detector = detector or load_detector()
    segmenter = segmenter or default_segmenter()
    structures = [
        s
        for s in find_structures(
            detector.detect(volume), volume, Acquisition.of(volume).laterality, Rules()
        )
        if s.label in wanted
    ]
    log.info(
        "detected %s",
        ", ".join(f"{s.label.key} (slices {s.slices[0]}-{s.slices[-1]})" for s in structures)
        or "nothing",
    )
    empty = {int(label): np.full(volume.shape[0], np.nan) for label in wanted}
    if not structures:
        return Segmentation(volume.with_array(np.zeros(volume.shape, np.uint8)), empty)
    session = segmenter.session(volume)
    tracking = isinstance(segmenter.backend, TrackingBackend)
    if not tracking:
        slices = sorted({k for s in structures for k in s.slices})
        step = ENCODE_BATCH if segmenter.backend.device.type == "cpu" else len(slices)
        batches = [slices[i : i + step] for i in range(0, len(slices), step)]
        for batch in tqdm(batches, desc="encoding slices", unit="batch", disable=not progress):
            session.embeddings(batch)
    result = segment_bones_first(session, prompts_for(structures, tracking))
    return Segmentation(result.labels, {**empty, **result.scores})


def segment_bones_first(session: Session, prompts: Sequence[LabelPrompt]) -> Segmentation:
    """Segment bones, then the other structures on the pixels no bone took.

    A box around thin cartilage or a meniscus also holds bone, and the segmenter's mask often
    takes some of it; bones are the reliable masks, so they keep their pixels.
    """
    groups = [
        [p for p in prompts if p.label in BONES],
        [p for p in prompts if p.label not in BONES],
    ]
    labels = np.zeros(session.volume.shape, np.uint8)
    scores: dict[int, np.ndarray] = {}
    for group in groups:
        if group:
            part = session.segment(group)
            free = labels == 0
            labels[free] = part.labels.array[free]
            scores.update(part.scores)
    return Segmentation(session.volume.with_array(labels), scores)


def _wanted(labels: Iterable[int] | None) -> list[KneeLabel]:
    if labels is None:
        return list(AUTOMATIC_LABELS)
    wanted: Sequence[int] = list(labels)
    unknown = [value for value in wanted if value not in AUTOMATIC_LABELS]
    if unknown:
        names = ", ".join(f"{int(v)} ({v.key})" for v in AUTOMATIC_LABELS)
        raise ValueError(f"cannot detect labels {unknown} (detectable: {names})")
    return [KneeLabel(value) for value in wanted]
