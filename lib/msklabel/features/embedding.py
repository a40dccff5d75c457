"""Per-slice and study embeddings from an image encoder.

LiteMedSAM's embeddings come from the segmenter's own embedding cache
(:class:`~msklabel.segment.Session`), so a study that was just segmented is embedded without
running the encoder again. DINOv2 and DINOv3 (:mod:`.dino`, 2D, per slice) and CT-FM
(:mod:`.ctfm`, 3D, one pass per volume) run their own encoders on weights from the user's
checkpoint file. A slice's vector is its feature map averaged over each quarter of the
network input, 2 x 2 cells concatenated (LiteMedSAM: 4 x 256 channels of a 64 x 64 map;
DINO: 4 x width of the 16 x 16 patch tokens; CT-FM: 4 x 512 of its 8 x 8 deepest level);
their mean is the global average. The study vector is :data:`POOLING`.

Beside it, each slice keeps its *peaks*: the feature map's maximum over the same 2 x 2 cells,
pooled over slices alike (:data:`PEAK_POOLING`). Retrieval uses the means; the
label-efficient heads (:mod:`msklabel.clinical.embeddings`) use the peaks, which keep a small
bright finding that a cell's mean dilutes: on a development cohort of 60 simulated knees
(``msklabel triage synthetic --images --seed 11``, 30 subjects, 3 central slices), a
cross-validated logistic regression found a joint effusion with AUC 0.80 from the peaks and
0.67 from the means (0.73 from per-channel global maxima, 0.70 from 4 x 4 cell means).

Why 2 x 2 cells and not the global average: on a development pool of simulated knees
(seeds 100-119 of ``clinical-3t``, 4 echoes, disjoint from the test pool of
``tests/features/test_pool.py``), a knee's own anatomy at the other contrast was among the 5
nearest for 41 % of queries with the global average and 94 % with 2 x 2 cells: the global
average keeps the contrast and loses where the anatomy lies.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from msklabel.io.checksum import file_digest
from msklabel.segment import Segmenter, Session, load_backend
from msklabel.segment.backends.base import require_checkpoint
from msklabel.volume import Volume

#: Encoders ``load_embedder`` knows, by name.
EMBEDDING_MODELS = ("litemedsam", "dinov2", "dinov3", "ctfm")
#: How slice vectors become the study vector (also written beside every stored embedding).
POOLING = (
    "slice: encoder feature map averaged over each of 2 x 2 cells of the network input, "
    "concatenated cell by cell (row-major); study: mean of the L2-normalised slice vectors "
    "over the embedded slices, L2-normalised again"
)
#: How slice peaks become the study's peak vector (what the clinical heads fit).
PEAK_POOLING = (
    "slice: encoder feature map's maximum over each of 2 x 2 cells of the network input, "
    "concatenated cell by cell (row-major); study: mean of the L2-normalised slice peak "
    "vectors over the embedded slices, L2-normalised again"
)
#: Cells per side of the network input that a slice's feature map is averaged over.
GRID = 2


@dataclass(frozen=True)
class StudyEmbedding:
    """Slice vectors ``[n, d]`` of slices ``indices``, from encoder ``model_id`` whose
    weights file has SHA-256 ``weights_sha256``; ``peaks`` ``[n, d]``: the slices' cell
    maxima (None where not computed, as in embeddings saved before they were)."""

    slices: np.ndarray
    indices: np.ndarray
    model_id: str
    weights_sha256: str
    peaks: np.ndarray | None = None

    @property
    def study(self) -> np.ndarray:
        """The unit-length study vector (:data:`POOLING`)."""
        return pool_study(self.slices)

    @property
    def study_peaks(self) -> np.ndarray:
        """The unit-length study peak vector (:data:`PEAK_POOLING`)."""
        if self.peaks is None:
            raise ValueError("the embedding has no slice peaks (embed the study again)")
        return pool_study(self.peaks)


def pool_study(slices: np.ndarray) -> np.ndarray:
    """:data:`POOLING` of slice vectors ``[n, d]``: a unit vector ``[d]`` (float32)."""
    slices = np.asarray(slices, np.float64)
    if slices.ndim != 2 or not len(slices):
        raise ValueError(f"need slice vectors [n, d] with n >= 1, got shape {slices.shape}")
    mean = unit(unit(slices).mean(axis=0))
    return mean.astype(np.float32)


def unit(vectors: np.ndarray) -> np.ndarray:
    """Vectors along the last axis scaled to unit length (zero vectors left as they are)."""
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norm > 0, norm, 1.0)


def cell_means(embedding: torch.Tensor, grid: int = GRID) -> np.ndarray:
    """A ``[channels, rows, columns]`` feature map averaged over ``grid`` x ``grid`` cells:
    ``[grid * grid * channels]``, cell by cell in row-major order."""
    return _cells(embedding, F.adaptive_avg_pool2d, grid)


def cell_maxima(embedding: torch.Tensor, grid: int = GRID) -> np.ndarray:
    """The maxima of a feature map over the cells of :func:`cell_means`, in its order."""
    return _cells(embedding, F.adaptive_max_pool2d, grid)


def _cells(embedding: torch.Tensor, pool: Callable, grid: int) -> np.ndarray:
    if not isinstance(embedding, torch.Tensor) or embedding.ndim != 3:
        raise TypeError("the encoder gives no [channels, rows, columns] feature map per slice")
    cells = pool(embedding.float(), grid)  # [channels, grid, grid]
    return cells.permute(1, 2, 0).reshape(-1).cpu().numpy()


def _study_embedding(
    feature_maps: Iterable[torch.Tensor], indices: np.ndarray, model_id: str, weights: str
) -> StudyEmbedding:
    """The cell means and maxima of each slice's feature map."""
    means, peaks = [], []
    for feature_map in feature_maps:
        means.append(cell_means(feature_map))
        peaks.append(cell_maxima(feature_map))
    return StudyEmbedding(
        np.stack(means).astype(np.float32), indices, model_id, weights,
        np.stack(peaks).astype(np.float32),
    )  # fmt: skip


class Embedder:
    """Embeds volumes with ``segmenter``'s encoder through its embedding cache.

    ``weights_sha256`` identifies the encoder's weights file in what is stored.
    """

    def __init__(self, segmenter: Segmenter, weights_sha256: str) -> None:
        self.segmenter = segmenter
        self.weights_sha256 = weights_sha256

    @property
    def model_id(self) -> str:
        return self.segmenter.backend.model_id

    def embed(
        self, volume: Volume, slices: Iterable[int] | None = None, progress: bool = False
    ) -> StudyEmbedding:
        """Embeddings of ``slices`` of ``volume`` (all slices when None)."""
        return self.embed_session(self.segmenter.session(volume), slices, progress)

    def embed_session(
        self, session: Session, slices: Iterable[int] | None = None, progress: bool = False
    ) -> StudyEmbedding:
        """Embeddings of ``slices`` of the image of ``session`` (all slices when None),
        taken from the cache where that session (or another on the same image) encoded them."""
        if session.segmenter is not self.segmenter:
            raise ValueError("the session belongs to another segmenter")
        indices = slice_indices(session.volume.shape[0], slices)
        maps = (
            session.embeddings([int(k)])[0]
            for k in tqdm(indices, desc="embedding slices", unit="slice", disable=not progress)
        )
        return _study_embedding(maps, indices, self.model_id, self.weights_sha256)


class FeatureEncoder(Protocol):
    """An encoder giving each requested slice of a volume a ``[channels, rows, columns]``
    feature map; ``model_id`` names the model and its weights."""

    model_id: str

    def feature_maps(self, volume: Volume, indices: Sequence[int]) -> Iterator[torch.Tensor]: ...


class EncoderEmbedder:
    """Embeds volumes with a :class:`FeatureEncoder` (DINOv2, DINOv3, CT-FM) whose weights
    file has SHA-256 ``weights_sha256``."""

    def __init__(self, encoder: FeatureEncoder, weights_sha256: str) -> None:
        self.encoder = encoder
        self.weights_sha256 = weights_sha256

    @property
    def model_id(self) -> str:
        return self.encoder.model_id

    def embed(
        self, volume: Volume, slices: Iterable[int] | None = None, progress: bool = False
    ) -> StudyEmbedding:
        """Embeddings of ``slices`` of ``volume`` (all slices when None)."""
        indices = slice_indices(volume.shape[0], slices)
        maps = self.encoder.feature_maps(volume, indices.tolist())
        shown = tqdm(
            maps, desc="embedding slices", total=len(indices), unit="slice", disable=not progress
        )
        return _study_embedding(shown, indices, self.model_id, self.weights_sha256)


def slice_indices(total: int, slices: Iterable[int] | None) -> np.ndarray:
    """``slices`` of a volume of ``total`` slices as an index array (all when None)."""
    indices = np.arange(total) if slices is None else np.asarray(list(slices), int)
    if not len(indices) or indices.min() < 0 or indices.max() >= total:
        raise ValueError(f"slices must be 0..{total - 1}, got {indices.tolist()}")
    return indices


def load_embedder(
    model: str = "litemedsam",
    checkpoint: str | os.PathLike[str] | None = None,
    segmenter: Segmenter | None = None,
    device: str | torch.device = "auto",
) -> Embedder | EncoderEmbedder:
    """The embedder of ``model`` (:data:`EMBEDDING_MODELS`) with weights from ``checkpoint``
    on ``device``. LiteMedSAM uses its packaged weights when ``checkpoint`` is None; give it
    the ``segmenter`` that segments the same studies to share its cache (``device`` is then
    the segmenter's). The others need ``checkpoint`` (nothing is ever downloaded)."""
    if model not in EMBEDDING_MODELS:
        raise ValueError(
            f"unknown embedding model {model!r} (known: {', '.join(EMBEDDING_MODELS)})"
        )
    if model != "litemedsam":
        if segmenter is not None:
            raise ValueError(f"the {model!r} encoder is not a segmenter's: give no segmenter")
        path = require_checkpoint(checkpoint, model)
        if model == "ctfm":
            from msklabel.features.ctfm import load_ctfm

            encoder: FeatureEncoder = load_ctfm(path, device)
        else:
            from msklabel.features.dino import load_dino

            encoder = load_dino(model, path, device)
        return EncoderEmbedder(encoder, file_digest(path))
    from msklabel.segment.backends.litemedsam import packaged_checkpoint

    path = packaged_checkpoint() if checkpoint is None else checkpoint
    if segmenter is None:
        segmenter = Segmenter(load_backend(model, path, device=device))
    digest = file_digest(path)
    if segmenter.backend.model_id.split(":")[:2] != [model, digest[:16]]:
        raise ValueError(
            f"the segmenter runs {segmenter.backend.model_id!r}, not {model!r} with {path}"
        )
    return Embedder(segmenter, digest)
