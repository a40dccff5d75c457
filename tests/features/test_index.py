"""The persistent study index: exact cosine search, replacement by id, one encoder per index."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.errors import InputError
from msklabel.features import StudyIndex

MODEL = "litemedsam:0123"


def test_index_persists_and_finds_the_nearest_studies(tmp_path):
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((30, 16))
    index = StudyIndex.open(tmp_path / "idx")
    for number, vector in enumerate(vectors):
        index.add(f"s{number}", vector, MODEL, {"number": number})
    reopened = StudyIndex.open(tmp_path / "idx")
    assert len(reopened) == 30 and reopened.model_id == MODEL
    query = vectors[7] + 0.05 * rng.standard_normal(16)
    found = reopened.search(query, MODEL, k=3)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = np.argsort(-(unit @ (query / np.linalg.norm(query))))[:3]
    assert [n.id for n in found] == [f"s{i}" for i in expected] and found[0].id == "s7"
    assert found[0].info == {"number": 7} and found[0].similarity > found[1].similarity
    assert "s7" not in [n.id for n in reopened.search(query, MODEL, k=3, exclude=["s7"])]


def test_adding_an_id_again_replaces_its_vector(tmp_path):
    index = StudyIndex.open(tmp_path)
    index.add("a", np.array([1.0, 0.0]), MODEL)
    index.add("b", np.array([0.0, 1.0]), MODEL)
    index.add("a", np.array([0.0, 2.0]), MODEL)
    reopened = StudyIndex.open(tmp_path)
    assert reopened.ids == ["a", "b"]
    assert reopened.search(np.array([0.0, 1.0]), MODEL, k=2)[0].similarity == pytest.approx(1.0)


def test_index_refuses_other_encoders_and_foreign_folders(tmp_path):
    index = StudyIndex.open(tmp_path / "idx")
    index.add("a", np.ones(4), MODEL)
    with pytest.raises(InputError, match="one index per encoder"):
        index.add("b", np.ones(4), "sam:vit_b:99")
    with pytest.raises(ValueError, match="non-zero"):
        index.add("c", np.zeros(4), MODEL)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a study index"):
        StudyIndex.open(tmp_path / "other")
