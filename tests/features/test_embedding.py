"""Study embeddings from LiteMedSAM's encoder, sharing the segmenter's embedding cache."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.features import Embedder, load_embedder, pool_study
from msklabel.features.embedding import cell_means
from msklabel.io import read_volumes
from msklabel.io.checksum import file_digest
from msklabel.segment import Box, EmbeddingCache, LabelPrompt, Segmenter
from msklabel.segment.backends.litemedsam import packaged_checkpoint
from msklabel.volume import Volume


@pytest.fixture(scope="module")
def slab(sample):
    """Three middle slices of the real sample knee (first echo)."""
    knee = read_volumes(sample.dicom_dir)[0]
    return Volume(np.ascontiguousarray(knee.array[11:14]), knee.affine)


@pytest.fixture
def encoder_calls(litemedsam, monkeypatch) -> list[int]:
    """Counts the slices LiteMedSAM's image encoder is run on."""
    encoder = litemedsam.network.image_encoder
    calls: list[int] = []
    forward = encoder.forward

    def counting(inputs, *args, **kwargs):
        calls.append(len(inputs))
        return forward(inputs, *args, **kwargs)

    monkeypatch.setattr(encoder, "forward", counting)
    return calls


def test_pooling_averages_unit_slice_vectors():
    slices = np.array([[3.0, 0.0], [0.0, 0.5]])
    np.testing.assert_allclose(pool_study(slices), [2**-0.5, 2**-0.5], rtol=1e-6)
    with pytest.raises(ValueError, match="n >= 1"):
        pool_study(np.zeros((0, 4)))


@pytest.mark.slow
def test_embedding_a_segmented_study_costs_no_encoder_pass(litemedsam, encoder_calls, slab):
    segmenter = Segmenter(litemedsam, EmbeddingCache(64 * 1024**2))
    femur = LabelPrompt(1, boxes=[Box(k, 40, 60, 130, 170) for k in range(3)])
    segmenter.segment(slab, femur)
    assert sum(encoder_calls) == 3

    embedder = load_embedder(segmenter=segmenter)
    found = embedder.embed(slab)
    assert sum(encoder_calls) == 3, "embedding after segmentation ran the encoder again"
    assert found.slices.shape == (3, 1024) and found.indices.tolist() == [0, 1, 2]
    assert found.weights_sha256 == file_digest(packaged_checkpoint())
    assert found.model_id == litemedsam.model_id
    np.testing.assert_allclose(np.linalg.norm(found.study), 1.0, rtol=1e-5)

    direct = litemedsam.encode(segmenter.session(slab).images[[1]])[0]
    assert sum(encoder_calls) == 4  # the counter sees a pass outside the cache
    np.testing.assert_allclose(found.slices[1], cell_means(direct), rtol=1e-5, atol=1e-6)
    top_right = direct[:, :32, 32:].mean(dim=(1, 2)).numpy()
    np.testing.assert_allclose(found.slices[1][256:512], top_right, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_embedder_refuses_a_segmenter_on_other_weights(litemedsam, tmp_path):
    other = tmp_path / "other.pth"
    other.write_bytes(b"not the packaged weights")
    with pytest.raises(ValueError, match="not 'litemedsam' with"):
        load_embedder(checkpoint=other, segmenter=Segmenter(litemedsam))
    with pytest.raises(ValueError, match="unknown embedding model"):
        load_embedder("dinov9")
    assert isinstance(load_embedder(segmenter=Segmenter(litemedsam)), Embedder)
