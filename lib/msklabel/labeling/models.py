"""The model an app serves: its configured weights, replaced by each published checkpoint.

Training runs in another process (MONAI Label starts one per train request) and publishes
its checkpoint by an atomic rename into the model folder; every process that serves the
model sees the new file on its next request and reloads, without a restart. One
:class:`~msklabel.segment.Segmenter` (backend + embedding cache) is shared by all requests;
the knee detector that prompts the automatic segmentation, and the knee network of the
automatic knee segmentation, are published the same way. Each store serves on its default
device, or on the device a call names (one loaded model per device).
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from msklabel.detect import Detector, load_detector
from msklabel.device import resolve_device
from msklabel.features import Embedder, load_embedder
from msklabel.io import read_echoes
from msklabel.kneeseg import KneeSegmentation, KneeSegmenter, load_segmenter, segment_knee
from msklabel.labeling.curve import LearningCurve
from msklabel.labeling.series import series_volume
from msklabel.segment import DEFAULT_RUNTIME, EmbeddingCache, Segmenter, Session, load_backend

Loaded = TypeVar("Loaded")


@dataclass(frozen=True)
class ModelSpec:
    """Which backend to load: model name, its base checkpoint (None: packaged), variant and
    the runtime of its image encoder (:data:`msklabel.segment.RUNTIMES`)."""

    model: str = "litemedsam"
    checkpoint: str | None = None
    variant: str | None = None
    runtime: str = DEFAULT_RUNTIME


class Published:
    """Weights that training publishes into ``folder`` as ``<name>.pt`` (atomic rename), with
    the training report beside them as ``<name>.json``; served on ``device`` by default."""

    def __init__(
        self, folder: str | os.PathLike[str], name: str, device: str | torch.device = "auto"
    ) -> None:
        self.folder = Path(folder)
        self.name = name
        self.device = resolve_device(device)
        self._lock = threading.Lock()
        self._loaded: dict[torch.device, tuple[int | None, Any]] = {}

    @property
    def published(self) -> Path:
        """Where the newest trained weights are (or will be) published."""
        return self.folder / f"{self.name}.pt"

    @property
    def curve(self) -> LearningCurve:
        """The held-out learning curve of the published rounds, beside the weights."""
        return LearningCurve(self.folder, self.name)

    def staging(self) -> Path:
        """A path in the model folder where training writes weights before publishing."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f".{self.name}.{os.getpid()}.partial.pt"

    def publish(self, staged: str | os.PathLike[str], report: dict[str, Any]) -> Path:
        """Make ``staged`` (from :meth:`staging`) the served weights; record ``report``."""
        info = self.folder / f"{self.name}.json"
        partial = self.folder / f".{self.name}.{os.getpid()}.partial.json"
        partial.write_text(json.dumps(report, indent=2))
        os.replace(staged, self.published)
        os.replace(partial, info)
        return self.published

    def report(self) -> dict[str, Any]:
        """What the last training reported (empty before any)."""
        info = self.folder / f"{self.name}.json"
        return json.loads(info.read_text()) if info.is_file() else {}

    def stamp(self) -> int | None:
        """The published file's modification time in ns (None while nothing is published)."""
        try:
            return self.published.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def current(
        self,
        device: str | torch.device | None,
        load: Callable[[Path | None, torch.device], Loaded],
    ) -> Loaded:
        """``load(published weights or None, device)``, kept per device (None: the default
        one) and loaded again once newer weights are published."""
        device = self.device if device is None else resolve_device(device)
        with self._lock:
            stamp = self.stamp()
            found = self._loaded.get(device)
            if found is None or found[0] != stamp:
                path = None if stamp is None else self.published
                found = self._loaded[device] = (stamp, load(path, device))
            return found[1]


class ModelStore(Published):
    """The current segmenter of one model, following its published checkpoint.

    With no published checkpoint, the base weights of ``spec`` serve.
    """

    #: Images whose session (volume read and windowed) is kept for the next click.
    sessions_kept = 8

    def __init__(
        self,
        spec: ModelSpec,
        folder: str | os.PathLike[str],
        name: str,
        device: str | torch.device = "auto",
    ) -> None:
        super().__init__(folder, name, device)
        self.spec = spec
        self.cache = EmbeddingCache()
        self._embedder: Embedder | None = None
        self._sessions: OrderedDict[tuple[str, int, str, str], Session] = OrderedDict()

    def segmenter(self, device: str | torch.device | None = None) -> Segmenter:
        """The segmenter on the newest weights on ``device`` (None: the store's), reloaded if a
        checkpoint was published since."""

        def load(published: Path | None, device: torch.device) -> Segmenter:
            checkpoint = published or self.spec.checkpoint
            spec = self.spec
            backend = load_backend(
                spec.model, checkpoint, spec.variant, device=device, runtime=spec.runtime
            )
            return Segmenter(backend, cache=self.cache)

        return self.current(device, load)

    def embedder(self, device: str | torch.device | None = None) -> Embedder:
        """An embedder on the current segmenter's encoder on ``device`` (None: the store's),
        sharing its embedding cache."""
        segmenter = self.segmenter(device)
        with self._lock:
            if self._embedder is None or self._embedder.segmenter is not segmenter:
                checkpoint = self.spec.checkpoint if self.stamp() is None else self.published
                self._embedder = load_embedder(self.spec.model, checkpoint, segmenter)
            return self._embedder

    def session(
        self, image: str | os.PathLike[str], device: str | torch.device | None = None
    ) -> Session:
        """A session of the current model on ``device`` (None: the store's) on an image file
        or DICOM folder.

        The image is read and windowed once and kept while the file and the weights stay the
        same, so later clicks on it cost only the decoding (and encoding new slices).
        """
        segmenter = self.segmenter(device)
        backend = segmenter.backend
        path = Path(image)
        key = (str(path.resolve()), path.stat().st_mtime_ns, backend.model_id, str(backend.device))
        with self._lock:
            found = self._sessions.get(key)
            if found is not None:
                self._sessions.move_to_end(key)
                return found
        session = segmenter.session(series_volume(path))
        with self._lock:
            self._sessions[key] = session
            while len(self._sessions) > self.sessions_kept:
                self._sessions.popitem(last=False)
        return session


class DetectorStore(Published):
    """The knee detector: the one shipped with msklabel until a trained one is published."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        name: str = "detector",
        device: str | torch.device = "auto",
    ) -> None:
        super().__init__(folder, name, device)

    def detector(self, device: str | torch.device | None = None) -> Detector:
        """The newest published detector, or the shipped one, on ``device`` (None: the
        store's)."""

        def load(path: Path | None, device: torch.device) -> Detector:
            return Detector.load(path, device) if path else load_detector(device=device)

        return self.current(device, load)


class KneeSegStore(Published):
    """The knee segmentation network: the one shipped with msklabel until a fine-tuned one is
    published."""

    #: Images whose knee labels are kept for the next request on them.
    labels_kept = 4

    def __init__(
        self,
        folder: str | os.PathLike[str],
        name: str = "kneeseg",
        device: str | torch.device = "auto",
    ) -> None:
        super().__init__(folder, name, device)
        self._labels: OrderedDict[tuple[str, int, int | None, str], KneeSegmentation] = (
            OrderedDict()
        )

    def knee(
        self, image: str | os.PathLike[str], device: str | torch.device | None = None
    ) -> KneeSegmentation:
        """The network's segmentation of an image file or DICOM folder (all its echoes) on
        ``device`` (None: the store's), kept while the file and the weights stay the same."""
        path = Path(image)
        device = self.device if device is None else resolve_device(device)
        key = (str(path.resolve()), path.stat().st_mtime_ns, self.stamp(), str(device))
        with self._lock:
            found = self._labels.get(key)
            if found is not None:
                self._labels.move_to_end(key)
                return found
        found = segment_knee(read_echoes(path), self.segmenter(device), progress=False)
        with self._lock:
            self._labels[key] = found
            while len(self._labels) > self.labels_kept:
                self._labels.popitem(last=False)
        return found

    def segmenter(self, device: str | torch.device | None = None) -> KneeSegmenter:
        """The newest published network, or the shipped one, on ``device`` (None: the
        store's)."""

        def load(path: Path | None, device: torch.device) -> KneeSegmenter:
            return KneeSegmenter.load(path, device) if path else load_segmenter(device=device)

        return self.current(device, load)
