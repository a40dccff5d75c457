"""Study vectors of datastore images, kept on disk beside the model and in memory.

A MONAI Label local datastore rewrites its whole record file on every change (each label
saved, each image info updated). With a 1024-number study vector in every image's record, that
file grew to 3 MB for 80 images and every saved label rewrote it; here each image's vector is
a small folder of its own in :mod:`msklabel.features.store`'s format, named by digests of the
model and the image id (never the id itself: ids come from clients and file names).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from msklabel.errors import InputError
from msklabel.features.embedding import StudyEmbedding
from msklabel.features.store import load_embedding, save_embedding

logger = logging.getLogger(__name__)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class StudyVectors:
    """Study vectors by image, image version and model, computed once and kept in ``folder``.

    ``version`` is whatever changes when an image's content does (a datastore's timestamp);
    a vector recorded for another version or model is computed again.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._memory: dict[tuple[str, str, str], np.ndarray] = {}
        self._lock = threading.Lock()

    def path(self, image: str, model_id: str) -> Path:
        """The folder that holds ``image``'s embedding under ``model_id``."""
        return self.folder / _digest(model_id) / _digest(image)

    def vector(
        self,
        image: str,
        version: str,
        model_id: str,
        compute: Callable[[], tuple[StudyEmbedding, list[int]]],
    ) -> np.ndarray:
        """``image``'s study vector; ``compute()`` gives the embedding and the slices it was
        taken on when none is recorded for this version and model."""
        key = (image, version, model_id)
        with self._lock:
            found = self._memory.get(key)
        if found is None:
            found = self._recorded(image, version, model_id)
        if found is None:
            embedding, slices = compute()
            if embedding.model_id != model_id:
                raise ValueError(f"embedded with {embedding.model_id}, expected {model_id}")
            source = {"image": image, "version": version, "slices": slices}
            save_embedding(embedding, self.path(image, model_id), source)
            found = embedding.study
        with self._lock:
            self._memory[key] = found
        return found

    def _recorded(self, image: str, version: str, model_id: str) -> np.ndarray | None:
        folder = self.path(image, model_id)
        if not folder.is_dir():
            return None
        try:
            embedding, sidecar = load_embedding(folder)
        except InputError as error:
            logger.warning("embedding again: %s", error)
            return None
        source = sidecar.get("source", {})
        fits = source.get("image") == image and source.get("version") == version
        return embedding.study if fits and embedding.model_id == model_id else None
