"""The persistent study index: exact cosine search, replacement by id, one encoder per index."""

from __future__ import annotations

import json

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


def _add_many(folder: str, worker: int, count: int) -> None:
    rng = np.random.default_rng(worker)
    for number in range(count):
        with StudyIndex.locked(folder) as index:
            index.add(f"w{worker}-{number}", rng.standard_normal(8), MODEL)


def test_processes_adding_at_once_lose_no_study(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_add_many, args=(str(tmp_path), worker, 15)) for worker in range(3)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    index = StudyIndex.open(tmp_path)
    assert sorted(index.ids) == sorted(f"w{w}-{n}" for w in range(3) for n in range(15))
    assert index.vectors.shape == (45, 8)
    committed = json.loads((tmp_path / "index.json").read_text())["vectors"]
    assert [path.name for path in tmp_path.glob("*.npy")] == [committed]


def test_a_crash_before_the_commit_leaves_the_last_index(tmp_path, monkeypatch):
    index = StudyIndex.open(tmp_path)
    index.add("a", np.array([1.0, 0.0]), MODEL)

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr("msklabel.features.index.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        index.add("b", np.array([0.0, 1.0]), MODEL)
    monkeypatch.undo()
    reopened = StudyIndex.open(tmp_path)
    assert reopened.ids == ["a"] and reopened.vectors.shape == (1, 2)


def test_an_index_of_the_first_format_is_read_and_rewritten(tmp_path):
    np.save(tmp_path / "vectors.npy", np.array([[1.0, 0.0]], np.float32))
    (tmp_path / "index.json").write_text(
        json.dumps({"model_id": MODEL, "pooling": "x", "entries": [{"id": "a", "info": {}}]})
    )
    index = StudyIndex.open(tmp_path)
    index.add("b", np.array([0.0, 1.0]), MODEL)
    assert StudyIndex.open(tmp_path).ids == ["a", "b"]
    assert not (tmp_path / "vectors.npy").exists()
