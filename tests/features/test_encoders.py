"""DINOv2, DINOv3 and CT-FM embeddings from randomly initialised real architectures saved as
checkpoint files in their releases' layouts (random weights: shapes, pooling, provenance and
loading are tested, not what the vectors mean)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msklabel.errors import DataUnavailableError, InputError
from msklabel.features import EncoderEmbedder, load_embedder
from msklabel.features.embedding import cell_means
from msklabel.io.checksum import file_digest
from msklabel.segment import Segmenter
from msklabel.testing.checkpoints import EMBEDDER_VARIANTS

#: Slice vector length: 2 x 2 cells of the encoder's channels.
DIMENSIONS = {"dinov2": 4 * 384, "dinov3": 4 * 384, "ctfm": 4 * 512}


@pytest.mark.slow
@pytest.mark.parametrize("model", ["dinov2", "dinov3", "ctfm"])
def test_encoder_embeds_cell_pooled_slices_with_its_provenance(
    model, embedder_checkpoints, knee_slab
):
    path = embedder_checkpoints[model]
    embedder = load_embedder(model, path, device="cpu")
    assert isinstance(embedder, EncoderEmbedder)
    count = 8 if model == "ctfm" else 4  # CT-FM: 8 x 3 mm span two levels of its deepest map
    knee = knee_slab(18 - count // 2, count)
    found = embedder.embed(knee)
    assert found.slices.shape == (count, DIMENSIONS[model]) and found.slices.dtype == np.float32
    assert found.indices.tolist() == list(range(count)) and np.isfinite(found.slices).all()
    digest = file_digest(path)
    assert found.weights_sha256 == digest
    assert found.model_id == f"{model}:{EMBEDDER_VARIANTS[model]}:{digest[:16]}"
    np.testing.assert_allclose(np.linalg.norm(found.study), 1.0, rtol=1e-5)
    assert not np.allclose(found.slices[0], found.slices[-1])

    again = load_embedder(model, path, device="cpu").embed(knee, [2, 1])
    assert again.indices.tolist() == [2, 1]
    np.testing.assert_allclose(again.slices, found.slices[[2, 1]], rtol=1e-5, atol=1e-6)

    maps = list(embedder.encoder.feature_maps(knee, [1]))
    assert len(maps) == 1 and maps[0].shape[1:] in ((16, 16), (8, 8))
    np.testing.assert_allclose(found.slices[1], cell_means(maps[0]), rtol=1e-5, atol=1e-6)
    top_right = maps[0][:, : maps[0].shape[1] // 2, maps[0].shape[2] // 2 :].mean(dim=(1, 2))
    width = DIMENSIONS[model] // 4
    np.testing.assert_allclose(found.slices[1][width : 2 * width], top_right, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_checkpoint_that_does_not_fit_is_named_with_its_first_differences(
    embedder_checkpoints, tmp_path
):
    dinov2, dinov3 = embedder_checkpoints["dinov2"], embedder_checkpoints["dinov3"]
    with pytest.raises(InputError) as error:
        load_embedder("dinov2", dinov3)  # ViT-S/16 with registers: the reg4 ViT-S/14 is built
    assert str(error.value) == (
        f"{dinov3}: not a vit_small_patch14_reg4_dinov2 checkpoint (shapes differ: "
        "patch_embed.proj.weight [384, 3, 16, 16] for [384, 3, 14, 14])"
    )

    with pytest.raises(InputError) as error:
        load_embedder("ctfm", dinov2)
    message = str(error.value)
    assert message.startswith(f"{dinov2}: not a CT-FM SegResEncoder checkpoint (missing ")
    assert "conv_init.weight" in message and "unexpected 1" in message and "cls_token" in message

    state = torch.load(dinov2, weights_only=True)
    del state["blocks.11.mlp.fc2.bias"]
    state["head.weight"] = torch.zeros(2, 384)
    broken = tmp_path / "broken.pth"
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}}, broken)
    with pytest.raises(InputError) as error:
        load_embedder("dinov2", broken)
    assert str(error.value) == (
        f"{broken}: not a vit_small_patch14_dinov2 checkpoint (missing 1: blocks.11.mlp.fc2.bias;"
        " unexpected 1: head.weight)"
    )


def test_encoders_other_than_litemedsam_need_a_readable_checkpoint(litemedsam, tmp_path):
    with pytest.raises(DataUnavailableError, match="give its checkpoint file with --checkpoint"):
        load_embedder("dinov3")
    with pytest.raises(InputError, match="no such checkpoint file for the 'ctfm' model"):
        load_embedder("ctfm", tmp_path / "missing.safetensors")
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=f"{damaged}: not a readable checkpoint"):
        load_embedder("dinov2", damaged)
    with pytest.raises(ValueError, match="not a segmenter's"):
        load_embedder("dinov2", damaged, segmenter=Segmenter(litemedsam))
