"""Training runs to completion on CPU with progress; weights round-trip through a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from msklabel.detect import Detector, TrainConfig, load_detector, train_detector
from msklabel.detect.classes import DetectorClass
from msklabel.detect.presets import phantom_labels
from msklabel.detect.synth import SliceBank, boxes_of, synthesise
from msklabel.detect.training import as_label_volume
from msklabel.errors import InputError
from msklabel.labels import KneeLabel


@pytest.fixture(scope="module")
def labels():
    return phantom_labels(7, "sagittal", (2.0, 1.0, 1.0))


def test_boxes_of_label_maps_surround_each_class_with_pixel_edges() -> None:
    maps = torch.zeros(2, 32, 32, dtype=torch.long)
    maps[0, 4:10, 6:20] = KneeLabel.FEMUR
    maps[0, 20:22, 3:5] = KneeLabel.MEDIAL_MENISCUS
    maps[0, 25:27, 28:30] = KneeLabel.LATERAL_MENISCUS  # one box around both menisci
    boxes, present = boxes_of(maps)
    assert present[0, DetectorClass.FEMUR] and not present[1].any()
    assert boxes[0, DetectorClass.FEMUR].tolist() == [6, 4, 20, 10]
    assert boxes[0, DetectorClass.MENISCUS].tolist() == [3, 20, 30, 27]


def test_synthesised_batches_hold_the_structures_of_the_label_maps(labels) -> None:
    bank = SliceBank.of([labels])
    batch = synthesise(bank, 12, torch.Generator().manual_seed(1))
    assert batch.images.shape == (12, 1, 128, 128)
    assert float(batch.images.min()) >= 0.0 and float(batch.images.max()) <= 1.0
    assert batch.present[:, DetectorClass.FEMUR].any()
    assert not batch.present[:, DetectorClass.FIBULA].any()  # the phantom has none
    widths = batch.boxes[..., 2] - batch.boxes[..., 0]
    assert bool((widths[batch.present] > 0).all())


@pytest.mark.slow
def test_a_tiny_training_completes_with_progress_and_round_trips(labels, tmp_path: Path) -> None:
    steps = []
    array = as_label_volume(np.asarray(labels.array)[::2])  # a plain array is accepted too
    detector = train_detector(
        [labels, array],
        TrainConfig(steps=20, batch_size=2, widths=(8, 8, 8, 8, 8)),
        callback=lambda step, total, loss: steps.append((step, total, loss)),
    )
    assert [s[:2] for s in steps] == [(k, 20) for k in range(1, 21)]
    assert all(np.isfinite(s[2]) for s in steps)
    path = tmp_path / "tiny.pt"
    detector.save(path)
    again = load_detector(path)
    first, second = detector.detect(labels), again.detect(labels)
    assert first.scores.shape == (labels.shape[0], len(DetectorClass))
    np.testing.assert_allclose(first.scores, second.scores, atol=2e-2)  # weights kept in fp16


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
