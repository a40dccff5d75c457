"""Training runs to completion on CPU with progress; weights round-trip through a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from msklabel.data.labelmaps import phantom_labels
from msklabel.detect import Detector, TrainConfig, load_detector, train_detector
from msklabel.detect.classes import DetectorClass
from msklabel.detect.model import CentreNet
from msklabel.detect.training import as_label_volume
from msklabel.errors import InputError
from msklabel.labels import KneeLabel


@pytest.fixture(scope="module")
def labels():
    return phantom_labels(7, "sagittal", (2.0, 1.0, 1.0))


@pytest.mark.slow
def test_a_tiny_training_completes_with_progress_and_round_trips(labels, tmp_path: Path) -> None:
    steps = []
    array = as_label_volume(np.asarray(labels.array)[::2])  # a plain array is accepted too
    detector = train_detector(
        [labels, array],
        TrainConfig(steps=20, batch_size=2, widths=(8, 8, 8, 8, 8), context=1),
        callback=lambda step, total, loss: steps.append((step, total, loss)),
    )
    assert [s[:2] for s in steps] == [(k, 20) for k in range(1, 21)]
    assert all(np.isfinite(s[2]) for s in steps)
    path = tmp_path / "tiny.pt"
    detector.save(path)
    again = load_detector(path)
    assert again.network.context == 1  # each slice is seen between its neighbours
    first, second = detector.detect(labels), again.detect(labels)
    assert first.scores.shape == (labels.shape[0], len(DetectorClass))
    np.testing.assert_allclose(first.scores, second.scores, atol=2e-2)  # weights kept in fp16


def test_weights_of_the_single_slice_format_are_still_read(labels, tmp_path: Path) -> None:
    detector = Detector(CentreNet(widths=(8, 8, 8, 8, 8)))
    path = tmp_path / "single.pt"
    detector.save(path)
    saved = torch.load(path, weights_only=True)
    del saved["context"]
    torch.save({**saved, "format": "msklabel-detector/1"}, path)
    old = Detector.load(path)
    assert old.network.context == 0
    np.testing.assert_allclose(old.detect(labels).scores, detector.detect(labels).scores, atol=2e-2)


def test_bad_weights_and_bad_labels_are_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=r"bad\.pt"):
        Detector.load(bad)
    with pytest.raises(InputError, match="no such"):
        Detector.load(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="none of the detected"):
        train_detector([np.full((4, 8, 8), KneeLabel.FAT, np.uint8)])
    with pytest.raises(ValueError, match="at least 20 steps"):
        TrainConfig(steps=5)
    with pytest.raises(ValueError, match="context"):
        TrainConfig(context=-1)
