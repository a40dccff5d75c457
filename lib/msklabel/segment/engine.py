"""The promptable segmentation engine: one interface over every backend.

A :class:`Segmenter` holds a backend and an embedding cache shared by all its sessions. A
:class:`Session` is one user's work on one image: it holds only immutable data (the windowed
slices and an image identity), so sessions on different threads never disturb each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from msklabel.segment.backends.base import Backend, SliceMask, TrackingBackend
from msklabel.segment.cache import EmbeddingCache, EmbeddingKey
from msklabel.segment.clicks import guided_click
from msklabel.segment.intensity import Window
from msklabel.segment.prompts import LabelPrompt, SlicePrompt, as_prompts
from msklabel.segment.propagate import StopRule, propagate_boxes, seed_answer
from msklabel.volume import Volume


@dataclass(frozen=True)
class Segmentation:
    """A label volume in the input's geometry and, per label, the score of each slice.

    ``scores[label][k]`` is the model's confidence on slice ``k`` (a promptable model's
    predicted IoU; the knee network's mean probability), NaN where the label was not
    segmented.
    """

    labels: Volume
    scores: Mapping[int, np.ndarray]

    def mask(self, label: int) -> np.ndarray:
        return self.labels.array == label


class Segmenter:
    """A backend plus a bounded embedding cache; makes sessions on volumes."""

    def __init__(
        self,
        backend: Backend,
        cache: EmbeddingCache | None = None,
        stop_rule: StopRule | None = None,
        percentiles: tuple[float, float] = (0.5, 99.5),
    ) -> None:
        self.backend = backend
        self.cache = EmbeddingCache() if cache is None else cache
        self.stop_rule = stop_rule or StopRule()
        self.percentiles = percentiles

    def session(self, volume: Volume, window: Window | None = None) -> Session:
        """A session on ``volume``, windowed robustly unless ``window`` is given."""
        window = window or Window.robust(volume.array, *self.percentiles)
        return Session(self, volume, window)

    def segment(self, volume: Volume, prompts: Iterable[LabelPrompt] | LabelPrompt) -> Segmentation:
        """Segment ``volume`` from ``prompts`` in a new session."""
        return self.session(volume).segment(prompts)


class Session:
    """Prompts answered on one image; embeddings come from the segmenter's shared cache."""

    def __init__(self, segmenter: Segmenter, volume: Volume, window: Window) -> None:
        self.segmenter = segmenter
        self.volume = volume
        self.window = window
        self.images = window.apply(volume.array)
        self.image_id = _content_id(volume.array, window)

    @property
    def backend(self) -> Backend:
        return self.segmenter.backend

    def embeddings(self, slices: Iterable[int]) -> list:
        """Embeddings of ``slices``, encoding those not yet cached together in batches."""
        backend = self.backend
        device = str(backend.device)
        keys = [EmbeddingKey(self.image_id, backend.model_id, int(k), device) for k in slices]
        return self.segmenter.cache.get_many(
            keys, lambda missing: backend.encode(self.images[[key.slice for key in missing]])
        )

    def predict_slice(self, index: int, prompt: SlicePrompt) -> SliceMask:
        """The backend's answer to ``prompt`` on slice ``index``."""
        (embedding,) = self.embeddings([index])
        return self.backend.decode(embedding, prompt, self.images.shape[1:])

    def segment_label(self, prompt: LabelPrompt) -> dict[int, SliceMask]:
        """Masks of one label on the slices it prompts, propagated if it asks for that."""
        prompt.check(self.volume.shape)
        slices = prompt.slices()
        if prompt.propagate and isinstance(self.backend, TrackingBackend):
            return self.backend.track(self.images, {k: prompt.on_slice(k) for k in slices})
        self.embeddings(slices)
        rule = self.segmenter.stop_rule

        def answer(index: int, on_slice: SlicePrompt) -> SliceMask:
            if prompt.propagate:
                return seed_answer(index, on_slice, self.predict_slice, rule)
            return self.predict_slice(index, on_slice)

        guide = prompt.guide
        if guide is None:
            found = {k: answer(k, prompt.on_slice(k)) for k in slices}
        else:  # clicks on the guide's structure ask for all of it
            found = {k: guided_click(k, prompt.on_slice(k), guide[k], answer) for k in slices}
        if not prompt.propagate:
            return found
        return propagate_boxes(found, self.volume.shape[0], self.predict_slice, rule, guide)

    def segment(self, prompts: Iterable[LabelPrompt] | LabelPrompt) -> Segmentation:
        """Segment every prompted label; where labels overlap, the most confident pixel wins."""
        prompts = as_prompts(prompts)
        shape = self.volume.shape
        best = np.full(shape, -np.inf, dtype=np.float32)
        labels = np.zeros(
            shape, dtype=np.uint8 if max(p.label for p in prompts) < 256 else np.uint16
        )
        scores = {}
        for prompt in prompts:
            scores[prompt.label] = np.full(shape[0], np.nan)
            for index, result in self.segment_label(prompt).items():
                scores[prompt.label][index] = result.score
                wins = (result.logits > 0) & (result.logits > best[index])
                best[index][wins] = result.logits[wins]
                labels[index][wins] = prompt.label
        return Segmentation(self.volume.with_array(labels), scores)


def _content_id(array: np.ndarray, window: Window) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{array.shape}{array.dtype}{window.low!r}{window.high!r}".encode())
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()
