"""The model an app serves: its configured weights, replaced by each published checkpoint.

Training runs in another process (MONAI Label starts one per train request) and publishes
its checkpoint by an atomic rename into the model folder; every process that serves the
model sees the new file on its next request and reloads, without a restart. One
:class:`~msklabel.segment.Segmenter` (backend + embedding cache) is shared by all requests;
the knee detector that prompts the automatic segmentation, and the knee network of the
automatic knee segmentation, are published the same way.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msklabel.detect import Detector, load_detector
from msklabel.features import Embedder, load_embedder
from msklabel.kneeseg import KneeSegmenter, load_segmenter
from msklabel.labeling.series import series_volume
from msklabel.segment import EmbeddingCache, Segmenter, Session, load_backend


@dataclass(frozen=True)
class ModelSpec:
    """Which backend to load: model name, its base checkpoint (None: packaged) and variant."""

    model: str = "litemedsam"
    checkpoint: str | None = None
    variant: str | None = None


class Published:
    """Weights that training publishes into ``folder`` as ``<name>.pt`` (atomic rename), with
    the training report beside them as ``<name>.json``."""

    def __init__(self, folder: str | os.PathLike[str], name: str) -> None:
        self.folder = Path(folder)
        self.name = name
        self._lock = threading.Lock()

    @property
    def published(self) -> Path:
        """Where the newest trained weights are (or will be) published."""
        return self.folder / f"{self.name}.pt"

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


class ModelStore(Published):
    """The current segmenter of one model, following its published checkpoint.

    With no published checkpoint, the base weights of ``spec`` serve.
    """

    #: Images whose session (volume read and windowed) is kept for the next click.
    sessions_kept = 8

    def __init__(self, spec: ModelSpec, folder: str | os.PathLike[str], name: str) -> None:
        super().__init__(folder, name)
        self.spec = spec
        self.cache = EmbeddingCache()
        self._segmenter: Segmenter | None = None
        self._embedder: Embedder | None = None
        self._checkpoint: str | os.PathLike[str] | None = None
        self._loaded: int | None = None
        self._sessions: OrderedDict[tuple[str, int, str], Session] = OrderedDict()

    def segmenter(self) -> Segmenter:
        """The segmenter on the newest weights, reloaded if a checkpoint was published since."""
        with self._lock:
            return self._current()

    def embedder(self) -> Embedder:
        """An embedder on the current segmenter's encoder, sharing its embedding cache."""
        with self._lock:
            segmenter = self._current()
            if self._embedder is None:
                self._embedder = load_embedder(self.spec.model, self._checkpoint, segmenter)
            return self._embedder

    def _current(self) -> Segmenter:
        """The segmenter on the newest weights (call with the lock held)."""
        stamp = self.stamp()
        if self._segmenter is None or stamp != self._loaded:
            self._checkpoint = self.spec.checkpoint if stamp is None else self.published
            backend = load_backend(self.spec.model, self._checkpoint, self.spec.variant)
            self._segmenter = Segmenter(backend, cache=self.cache)
            self._embedder = None
            self._loaded = stamp
        return self._segmenter

    def session(self, image: str | os.PathLike[str]) -> Session:
        """A session of the current model on an image file or DICOM folder.

        The image is read and windowed once and kept while the file and the weights stay the
        same, so later clicks on it cost only the decoding (and encoding new slices).
        """
        segmenter = self.segmenter()
        path = Path(image)
        key = (str(path.resolve()), path.stat().st_mtime_ns, segmenter.backend.model_id)
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

    def __init__(self, folder: str | os.PathLike[str], name: str = "detector") -> None:
        super().__init__(folder, name)
        self._detector: Detector | None = None
        self._loaded: int | None = None

    def detector(self) -> Detector:
        """The newest published detector, or the shipped one."""
        with self._lock:
            stamp = self.stamp()
            if self._detector is None or stamp != self._loaded:
                path = None if stamp is None else self.published
                self._detector = Detector.load(path) if path else load_detector()
                self._loaded = stamp
            return self._detector


class KneeSegStore(Published):
    """The knee segmentation network: the one shipped with msklabel until a fine-tuned one is
    published."""

    def __init__(self, folder: str | os.PathLike[str], name: str = "kneeseg") -> None:
        super().__init__(folder, name)
        self._segmenter: KneeSegmenter | None = None
        self._loaded: int | None = None

    def segmenter(self) -> KneeSegmenter:
        """The newest published network, or the shipped one."""
        with self._lock:
            stamp = self.stamp()
            if self._segmenter is None or stamp != self._loaded:
                path = None if stamp is None else self.published
                self._segmenter = KneeSegmenter.load(path) if path else load_segmenter()
                self._loaded = stamp
            return self._segmenter
