"""Saved study embeddings: arrays, provenance, and clear errors on damaged folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msklabel.errors import InputError
from msklabel.features import POOLING, StudyEmbedding, load_embedding, save_embedding


def test_saved_embedding_reads_back_with_its_provenance(tmp_path):
    rng = np.random.default_rng(0)
    embedding = StudyEmbedding(
        rng.random((4, 8), dtype=np.float32), np.array([2, 5, 8, 11]), "litemedsam:abc", "f" * 64
    )
    sidecar = save_embedding(embedding, tmp_path / "e", {"series_instance_uid": "1.2.3"})
    written = json.loads(sidecar.read_text())
    assert written["weights_sha256"] == "f" * 64 and written["pooling"] == POOLING
    assert written["slices"] == [2, 5, 8, 11] and written["dimensions"] == 8
    loaded, info = load_embedding(tmp_path / "e")
    np.testing.assert_array_equal(loaded.slices, embedding.slices)
    np.testing.assert_array_equal(loaded.study, embedding.study)
    assert loaded.model_id == "litemedsam:abc" and info["source"]["series_instance_uid"] == "1.2.3"
    with np.load(tmp_path / "e" / "embedding.npz") as arrays:
        np.testing.assert_allclose(arrays["study"], embedding.study)


def test_missing_or_damaged_embeddings_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"embedding\.json: no saved embedding"):
        load_embedding(tmp_path)
    (tmp_path / "embedding.json").write_text("{}")
    (tmp_path / "embedding.npz").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable saved embedding"):
        load_embedding(tmp_path)
