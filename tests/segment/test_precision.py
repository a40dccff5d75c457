"""bf16 encoding: accuracy held against fp32 on a phantom, and never mixed in the cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msklabel.labels import BONES
from msklabel.segment import EmbeddingCache, LabelPrompt, Segmenter, load_backend


@pytest.fixture(scope="module")
def bf16_backend():
    return load_backend("litemedsam", precision="bf16")


@pytest.mark.slow
def test_bf16_keeps_phantom_dice_within_001_of_fp32(
    litemedsam, bf16_backend, knee_phantom, truth_box, dice
):
    labels = knee_phantom.labels.array
    areas = np.stack([(labels == bone).sum(axis=(1, 2)) for bone in BONES]).min(axis=0)
    slices = sorted(np.argsort(areas)[-3:].tolist())
    prompts = [
        LabelPrompt(bone, boxes=[truth_box(labels, bone, k) for k in slices]) for bone in BONES
    ]
    image = knee_phantom.echoes[0]
    found = {
        name: Segmenter(backend).segment(image, prompts)
        for name, backend in (("fp32", litemedsam), ("bf16", bf16_backend))
    }
    for bone in BONES:
        truth = labels[slices] == bone
        scores = {name: dice(r.mask(bone)[slices], truth) for name, r in found.items()}
        print(f"{bone.key}: Dice fp32 {scores['fp32']:.4f} bf16 {scores['bf16']:.4f}")
        assert scores["fp32"] >= 0.9, bone.key
        assert abs(scores["bf16"] - scores["fp32"]) <= 0.01, bone.key


@pytest.mark.slow
def test_bf16_embeddings_are_fp32_tensors_under_their_own_cache_key(
    litemedsam, bf16_backend, sample_knee
):
    assert bf16_backend.model_id == f"{litemedsam.model_id}:bf16"
    cache = EmbeddingCache(64 * 1024**2)
    sessions = [Segmenter(b, cache).session(sample_knee) for b in (litemedsam, bf16_backend)]
    (fp32,), (bf16,) = (session.embeddings([12]) for session in sessions)
    assert cache.stats().entries == 2
    assert fp32.dtype == bf16.dtype == torch.float32
    relative = float((bf16 - fp32).norm() / fp32.norm())
    assert 0 < relative < 0.1  # close, yet really computed in bf16


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        load_backend("litemedsam", precision="fp8", device="cpu")
    with pytest.raises(ValueError, match="'fp16' runs on CUDA only"):
        load_backend("litemedsam", precision="fp16", device="cpu")
