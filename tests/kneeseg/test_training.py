"""Training the knee network: a short run with progress, weights that round-trip, fine-tuning
on labelled images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from msklabel.data.labelmaps import phantom_labels
from msklabel.detect.synth import LabelledSeries
from msklabel.errors import InputError
from msklabel.kneeseg.network import KneeSegmenter
from msklabel.kneeseg.training import TrainConfig, train_segmenter

TINY = TrainConfig(steps=20, batch_size=2, widths=(8, 16, 32, 64, 128), residual_units=1)


@pytest.fixture(scope="module")
def labels():
    return phantom_labels(3, "sagittal", (2.5, 1.0, 1.0))


def test_a_short_run_reports_progress_and_its_weights_round_trip(labels, tmp_path: Path) -> None:
    seen: list[tuple[int, int, float]] = []
    trained = train_segmenter([labels], TINY, progress=False, callback=lambda *a: seen.append(a))
    assert [step for step, _, _ in seen] == list(range(1, 21))
    assert all(np.isfinite(loss) for _, _, loss in seen)
    path = tmp_path / "kneeseg.pt"
    trained.save(path)
    again = KneeSegmenter.load(path)
    assert again.model_id.startswith("kneeseg:") and len(again.model_id) == len("kneeseg:") + 16
    assert again.info["config"]["steps"] == 20
    images = torch.rand(1, 2, 64, 64)
    with torch.inference_mode():
        np.testing.assert_allclose(
            again.network(images).numpy(), trained.network.eval()(images).numpy(), atol=2e-2
        )  # float16 weights on disk


def test_fine_tuning_starts_from_the_given_network_and_leaves_it_unchanged(labels) -> None:
    base = train_segmenter([labels], TINY, progress=False)
    before = {k: v.clone() for k, v in base.network.state_dict().items()}
    image = labels.with_array(np.where(labels.array > 0, 300.0, 20.0).astype(np.float32))
    tuned = train_segmenter(
        [], TINY, progress=False, images=[LabelledSeries(labels, (image,))], initial=base
    )
    assert tuned.info["imaged_slices"] == labels.shape[0]
    assert all(torch.equal(v, base.network.state_dict()[k]) for k, v in before.items())
    changed = [
        not torch.equal(v, tuned.network.state_dict()[k])
        for k, v in before.items()
        if v.is_floating_point()
    ]
    assert any(changed)


def test_a_file_that_is_not_a_weights_file_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "not-weights.pt"
    path.write_bytes(b"hello")
    with pytest.raises(InputError, match=r"not-weights\.pt"):
        KneeSegmenter.load(path)
