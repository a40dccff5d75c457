"""On a CUDA GPU the knee network gives the CPU's labels (Dice >= 0.99) and trains; run only
where torch sees a GPU (the ``gpu`` marker), skipped with the reason elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msklabel.data.labelmaps import phantom_labels
from msklabel.io import read_volumes
from msklabel.kneeseg import KneeSegmenter, load_segmenter, segment_knee
from msklabel.kneeseg.training import TrainConfig, train_segmenter

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def test_the_knee_network_on_the_gpu_gives_the_cpu_labels(sample):
    echoes = sorted(read_volumes(sample.dicom_dir), key=lambda v: v.echo_time or 0.0)
    gpu_network = load_segmenter(device="cuda")
    assert gpu_network.device == torch.device("cuda", 0)
    found = {
        name: segment_knee(echoes, network, progress=False)
        for name, network in (("gpu", gpu_network), ("cpu", load_segmenter(device="cpu")))
    }
    labels = {name: result.labels.array for name, result in found.items()}
    present = [int(v) for v in np.unique(labels["cpu"]) if v and (labels["cpu"] == v).sum() > 200]
    assert len(present) >= 5
    for value in present:
        gpu, cpu = labels["gpu"] == value, labels["cpu"] == value
        assert 2 * (gpu & cpu).sum() / (gpu.sum() + cpu.sum()) >= 0.99, value


def test_training_on_the_gpu_gives_weights_the_cpu_loads(tmp_path):
    config = TrainConfig(steps=20, batch_size=2, widths=(8, 16, 32, 64, 128), residual_units=1)
    labels = phantom_labels(3, "sagittal", (2.5, 1.0, 1.0))
    trained = train_segmenter([labels], config, progress=False, device="cuda")
    assert trained.device.type == "cuda" and trained.info["device"] == "cuda:0"
    path = tmp_path / "kneeseg.pt"
    trained.save(path)
    again = KneeSegmenter.load(path, device="cpu")
    images = torch.rand(1, 2, 64, 64)
    with torch.inference_mode():
        np.testing.assert_allclose(
            again.network(images).numpy(),
            trained.network.eval()(images.cuda()).cpu().numpy(),
            atol=5e-2,
        )  # float16 weights on disk
