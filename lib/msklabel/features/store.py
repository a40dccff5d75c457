"""A study embedding on disk: ``embedding.npz`` (arrays) and ``embedding.json`` (provenance)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from msklabel.errors import InputError
from msklabel.features.embedding import PEAK_POOLING, POOLING, StudyEmbedding

ARRAYS, SIDECAR = "embedding.npz", "embedding.json"


def save_embedding(
    embedding: StudyEmbedding, out_dir: str | os.PathLike[str], source: dict[str, Any] | None = None
) -> Path:
    """Write ``embedding`` into ``out_dir``; ``source`` (e.g. the series UID) goes in the
    sidecar. Returns the sidecar's path."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    peaks = {} if embedding.peaks is None else {"slice_peaks": embedding.peaks}
    np.savez(
        folder / ARRAYS,
        slices=embedding.slices,
        slice_indices=embedding.indices,
        study=embedding.study,
        **peaks,
    )
    sidecar = {
        "model_id": embedding.model_id,
        "weights_sha256": embedding.weights_sha256,
        "pooling": POOLING,
        **({"peak_pooling": PEAK_POOLING} if peaks else {}),
        "dimensions": int(embedding.slices.shape[1]),
        "slices": embedding.indices.tolist(),
        "source": source or {},
    }
    (folder / SIDECAR).write_text(json.dumps(sidecar, indent=2))
    return folder / SIDECAR


def load_embedding(folder: str | os.PathLike[str]) -> tuple[StudyEmbedding, dict[str, Any]]:
    """The embedding saved in ``folder`` and its sidecar; a clear error if either is unusable."""
    folder = Path(folder)
    try:
        sidecar = json.loads((folder / SIDECAR).read_text())
        with np.load(folder / ARRAYS) as arrays:
            slices, indices = arrays["slices"], arrays["slice_indices"]
            peaks = arrays.get("slice_peaks")
        embedding = StudyEmbedding(
            slices, indices, sidecar["model_id"], sidecar["weights_sha256"], peaks
        )
    except FileNotFoundError as error:
        raise InputError(error.filename, "no saved embedding (run msklabel embed)") from None
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as error:
        raise InputError(folder, f"not a readable saved embedding ({error})") from None
    return embedding, sidecar
