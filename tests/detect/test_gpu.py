"""On a CUDA GPU the detector finds the CPU's boxes and trains; run only where torch sees a
GPU (the ``gpu`` marker), skipped with the reason elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msklabel.data.labelmaps import phantom_labels
from msklabel.detect import Detector, TrainConfig, load_detector, train_detector

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def test_the_shipped_detector_on_the_gpu_finds_the_cpu_boxes(sample):
    from msklabel.io import read_volumes

    volume = read_volumes(sample.dicom_dir)[0]
    gpu, cpu = load_detector(device="cuda"), load_detector(device="cpu")
    assert gpu.device == torch.device("cuda", 0) and cpu.device == torch.device("cpu")
    found, expected = gpu.detect(volume), cpu.detect(volume)
    np.testing.assert_allclose(found.scores, expected.scores, atol=1e-3)
    confident = expected.scores > 0.5
    assert confident.any()
    np.testing.assert_allclose(found.boxes[confident], expected.boxes[confident], atol=1.0)


def test_training_on_the_gpu_gives_weights_the_cpu_loads(tmp_path):
    labels = phantom_labels(7, "sagittal", (2.0, 1.0, 1.0))
    config = TrainConfig(steps=20, batch_size=4, widths=(8, 8, 8, 8, 8))
    detector = train_detector([labels], config, progress=False, device="cuda")
    assert detector.device.type == "cuda" and detector.info["device"] == "cuda:0"
    path = tmp_path / "detector.pt"
    detector.save(path)
    again = Detector.load(path, device="cpu")
    np.testing.assert_allclose(
        again.detect(labels).scores, detector.detect(labels).scores, atol=2e-2
    )  # float16 weights on disk
