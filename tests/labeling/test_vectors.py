"""Study vectors kept on disk beside the model: computed once per image version and model."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.features.embedding import StudyEmbedding
from msklabel.labeling.vectors import StudyVectors


def embedding(value: float, model_id: str = "m1") -> StudyEmbedding:
    return StudyEmbedding(np.full((2, 4), value, np.float32), np.arange(2), model_id, "ab" * 32)


class Counting:
    def __init__(self, value: float, model_id: str = "m1") -> None:
        self.calls, self.value, self.model_id = 0, value, model_id

    def __call__(self) -> tuple[StudyEmbedding, list[int]]:
        self.calls += 1
        return embedding(self.value, self.model_id), [3, 5]


def test_a_vector_is_computed_once_and_found_again_by_a_new_store(tmp_path):
    compute = Counting(1.0)
    first = StudyVectors(tmp_path).vector("knee 1", "100", "m1", compute)
    assert StudyVectors(tmp_path).vector("knee 1", "100", "m1", compute) == pytest.approx(first)
    assert compute.calls == 1


def test_a_new_image_version_or_model_is_embedded_again(tmp_path):
    vectors = StudyVectors(tmp_path)
    vectors.vector("knee", "100", "m1", Counting(1.0))
    newer, other_model = Counting(2.0), Counting(3.0, "m2")
    vectors.vector("knee", "200", "m1", newer)
    vectors.vector("knee", "200", "m2", other_model)
    assert (newer.calls, other_model.calls) == (1, 1)
    assert StudyVectors(tmp_path).vector("knee", "200", "m1", Counting(9.0)) == pytest.approx(
        np.full(4, 0.5)  # the unit mean of the slices of value 2
    )


def test_folders_are_digests_never_the_image_id(tmp_path):
    vectors = StudyVectors(tmp_path)
    vectors.vector("../../etc/passwd", "1", "m1", Counting(1.0))
    (folder,) = [path for path in tmp_path.rglob("*") if path.name == "embedding.json"]
    assert folder.parent.parent.parent == tmp_path and "passwd" not in str(folder)


def test_an_unreadable_record_is_computed_again_and_replaced(tmp_path):
    vectors = StudyVectors(tmp_path)
    vectors.vector("knee", "1", "m1", Counting(1.0))
    (vectors.path("knee", "m1") / "embedding.npz").write_bytes(b"not an archive")
    again = Counting(1.0)
    StudyVectors(tmp_path).vector("knee", "1", "m1", again)
    assert again.calls == 1
    assert StudyVectors(tmp_path).vector("knee", "1", "m1", again) is not None
    assert again.calls == 1


def test_an_embedding_of_another_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="m2"):
        StudyVectors(tmp_path).vector("knee", "1", "m1", Counting(1.0, "m2"))
