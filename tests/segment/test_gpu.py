"""On a CUDA GPU the backends give the CPU's masks (Dice >= 0.99), as NumPy arrays; run only
where torch sees a GPU (the ``gpu`` marker), skipped with the reason elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msklabel.labels import BONES
from msklabel.segment import Box, LabelPrompt, Point, Segmenter, load_backend
from msklabel.segment.finetune import FinetuneConfig, TrainingSlices, finetune

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


@pytest.fixture(scope="module")
def on_gpu():
    """LiteMedSAM on the first CUDA GPU."""
    return load_backend("litemedsam", device="cuda")


@pytest.fixture(scope="module")
def on_cpu():
    return load_backend("litemedsam", device="cpu")


def _bone_prompts(phantom, truth_box, propagate=False):
    labels = phantom.labels.array
    areas = np.stack([(labels == bone).sum(axis=(1, 2)) for bone in BONES]).min(axis=0)
    slices = sorted(np.argsort(areas)[-3:].tolist())
    prompts = [
        LabelPrompt(bone, boxes=[truth_box(labels, bone, k) for k in slices], propagate=propagate)
        for bone in BONES
    ]
    return prompts, slices


def test_litemedsam_boxes_on_the_gpu_give_the_cpu_masks(
    on_gpu, on_cpu, knee_phantom, truth_box, dice
):
    assert on_gpu.device == torch.device("cuda", 0) and on_gpu.batch_size == 24
    prompts, slices = _bone_prompts(knee_phantom, truth_box)
    image = knee_phantom.echoes[0]
    gpu_session = Segmenter(on_gpu).session(image)
    found = {"gpu": gpu_session.segment(prompts), "cpu": Segmenter(on_cpu).segment(image, prompts)}
    assert gpu_session.embeddings([slices[0]])[0].device.type == "cuda"
    assert isinstance(found["gpu"].labels.array, np.ndarray)
    for bone in BONES:
        gpu, cpu = (found[name].mask(bone)[slices] for name in ("gpu", "cpu"))
        assert dice(gpu, cpu) >= 0.99, bone.key
        np.testing.assert_allclose(found["gpu"].scores[bone], found["cpu"].scores[bone], atol=0.02)


def test_litemedsam_propagation_and_clicks_on_the_gpu_give_the_cpu_masks(
    on_gpu, on_cpu, sample_knee, dice
):
    """The femur of the sample knee: a box followed through the slices, and a single click
    (which LiteMedSAM answers with boxes grown around it)."""
    for prompt in (
        LabelPrompt(1, boxes=[Box(12, 0, 80, 130, 148)], propagate=True),
        LabelPrompt(1, points=[Point(12, 80, 118)]),
    ):
        gpu = Segmenter(on_gpu).segment(sample_knee, prompt).mask(1)
        cpu = Segmenter(on_cpu).segment(sample_knee, prompt).mask(1)
        assert cpu.sum() > 100
        assert dice(gpu, cpu) >= 0.99, prompt


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_the_gpu_keeps_the_cpu_gate(
    precision, on_cpu, knee_phantom, truth_box, dice
):
    """The CPU's bf16 gate (tests/segment/test_precision.py): Dice within 0.01 of fp32."""
    mixed = load_backend("litemedsam", precision=precision, device="cuda")
    prompts, slices = _bone_prompts(knee_phantom, truth_box)
    image, labels = knee_phantom.echoes[0], knee_phantom.labels.array
    found = {"fp32": Segmenter(on_cpu).segment(image, prompts)}
    found[precision] = Segmenter(mixed).segment(image, prompts)
    for bone in BONES:
        truth = labels[slices] == bone
        scores = {name: dice(r.mask(bone)[slices], truth) for name, r in found.items()}
        assert abs(scores[precision] - scores["fp32"]) <= 0.01, (bone.key, scores)


@pytest.mark.parametrize(("model", "variant"), [("sam", "vit_b"), ("sam2", "hiera_t")])
def test_random_sam_and_sam2_on_the_gpu_give_the_cpu_labels(
    checkpoints, model, variant, sample_knee
):
    """Random weights: masks are arbitrary, so the devices must agree voxel by voxel (99 %)."""
    prompts = [LabelPrompt(1, boxes=[Box(12, 0, 80, 130, 148)], propagate=model == "sam2")]
    found = {
        device: Segmenter(load_backend(model, checkpoints[model], variant, device=device))
        .segment(sample_knee, prompts)
        .labels.array
        for device in ("cuda", "cpu")
    }
    assert (found["cuda"] == found["cpu"]).mean() >= 0.99


def test_finetuning_on_the_gpu_writes_a_checkpoint_the_cpu_loads(on_gpu, knee_phantom, tmp_path):
    every = TrainingSlices.collect([(knee_phantom.echoes[0], knee_phantom.labels)], list(BONES))
    training = TrainingSlices(every.images[::4], every.masks[::4])
    path = tmp_path / "tuned.pth"
    trained = finetune(on_gpu, training, path, FinetuneConfig(steps=5, batch_size=4))
    assert next(trained.network.parameters()).device.type == "cuda"
    again = load_backend("litemedsam", checkpoint=path, device="cpu")
    assert again.model_id == trained.model_id
