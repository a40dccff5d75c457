"""The README's main job: the sample knee segmented with LiteMedSAM, outputs written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from msklabel.demo import TISSUE_LABEL, run_demo, tissue_box
from msklabel.io import read_volumes
from msklabel.io.nifti import read_nifti


def test_tissue_box_surrounds_the_bright_regions_and_ignores_specks() -> None:
    image = np.zeros((100, 120), np.float32)
    image[20:60, 30:50] = 0.8
    image[50:90, 70:100] = 0.6
    image[5, 5] = 1.0  # a speck of noise
    box = tissue_box(image, index=7, margin=2)
    assert box is not None and box.slice == 7
    assert (box.row_min, box.column_min, box.row_max, box.column_max) == (18, 28, 91, 101)
    assert tissue_box(np.zeros((50, 50), np.float32), index=0) is None


@pytest.mark.slow
def test_main_job_writes_the_outputs_of_the_sample_study(sample, tmp_path: Path) -> None:
    outputs = run_demo(tmp_path / "demo")
    source = read_volumes(sample.dicom_dir)[0]

    image, labels = read_nifti(outputs.image), read_nifti(outputs.labels)
    for volume in (image, labels):
        assert volume.shape == source.shape
        np.testing.assert_allclose(volume.affine, source.affine, atol=1e-4)
    np.testing.assert_array_equal(image.array, source.array)

    mask = labels.array == TISSUE_LABEL
    assert set(np.unique(labels.array)) <= {0, TISSUE_LABEL}
    per_slice = mask.reshape(mask.shape[0], -1).mean(axis=1)
    # The knee fills a large share of the middle slices and never the whole field of view.
    middle = per_slice[6:18]
    assert np.all(middle > 0.1) and np.all(per_slice < 0.9)

    summary = json.loads(outputs.summary.read_text())
    assert summary["input"]["series_instance_uid"] == source.series_instance_uid
    assert summary["model"].startswith("litemedsam:79d8c9dca6db4d69")  # the pinned weights
    assert summary["segmented_volume_mm3"] == pytest.approx(mask.sum() * source.voxel_volume)
    scores = [s for s in summary["predicted_iou_per_slice"] if s is not None]
    assert len(scores) >= 20 and all(0 < s <= 1 for s in scores)
    assert outputs.overlay.stat().st_size > 10_000
