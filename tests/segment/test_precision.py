"""bf16 encoding: accuracy held against fp32 on a phantom, and never mixed in the cache.

Where this CPU has no bf16 arithmetic (:func:`msklabel.device.native_bf16`) bf16 is emulated,
about 100 times slower than fp32, and the accuracy is judged on one slice instead of three.
"""

from __future__ import annotations

import pytest
import torch

from msklabel.device import native_bf16
from msklabel.labels import BONES
from msklabel.segment import EmbeddingCache, Segmenter, load_backend


@pytest.fixture(scope="module")
def bf16_backend():
    return load_backend("litemedsam", precision="bf16")


@pytest.fixture(scope="module")
def shared_cache() -> EmbeddingCache:
    """One cache for both precisions: what the accuracy test encodes, the cache test reads."""
    return EmbeddingCache(64 * 1024**2)


@pytest.mark.slow
def test_bf16_keeps_phantom_dice_within_001_of_fp32(
    litemedsam, bf16_backend, shared_cache, knee_phantom, phantom_bone_boxes, dice
):
    slices, prompts = phantom_bone_boxes(3 if native_bf16()[0] else 1)
    image = knee_phantom.echoes[0]
    found = {
        name: Segmenter(backend, shared_cache).segment(image, prompts)
        for name, backend in (("fp32", litemedsam), ("bf16", bf16_backend))
    }
    labels = knee_phantom.labels.array
    for bone in BONES:
        truth = labels[slices] == bone
        scores = {name: dice(r.mask(bone)[slices], truth) for name, r in found.items()}
        print(f"{bone.key}: Dice fp32 {scores['fp32']:.4f} bf16 {scores['bf16']:.4f}")
        assert scores["fp32"] >= 0.9, bone.key
        assert abs(scores["bf16"] - scores["fp32"]) <= 0.01, bone.key


@pytest.mark.slow
def test_bf16_embeddings_are_fp32_tensors_under_their_own_cache_key(
    litemedsam, bf16_backend, shared_cache, knee_phantom, phantom_bone_boxes
):
    assert bf16_backend.model_id == f"{litemedsam.model_id}:bf16"
    slices, _ = phantom_bone_boxes(1)  # encoded by the accuracy test when it ran first
    image = knee_phantom.echoes[0]
    sessions = [Segmenter(b, shared_cache).session(image) for b in (litemedsam, bf16_backend)]
    (fp32,), (bf16,) = (session.embeddings(slices) for session in sessions)
    assert shared_cache.stats().entries >= 2  # one entry per precision and slice
    assert fp32.dtype == bf16.dtype == torch.float32
    relative = float((bf16 - fp32).norm() / fp32.norm())
    assert 0 < relative < 0.1  # close, yet really computed in bf16: not the fp32 entry


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        load_backend("litemedsam", precision="fp8", device="cpu")
    with pytest.raises(ValueError, match="'fp16' runs on CUDA only"):
        load_backend("litemedsam", precision="fp16", device="cpu")
