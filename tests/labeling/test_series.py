"""DICOM series to the volume to label, and labels checked against it."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.errors import InputError
from msklabel.io import read_volumes
from msklabel.io.nifti import read_nifti, write_nifti
from msklabel.labeling.labelset import LabelSet
from msklabel.labeling.series import label_segmentation, seg_to_nifti, series_volume
from msklabel.labeling.studies import SAMPLE_IMAGE, sample_studies
from msklabel.labels import KneeLabel

pytestmark = pytest.mark.slow


def test_a_multi_echo_series_is_labelled_on_its_first_echo(sample):
    echoes = read_volumes(sample.dicom_dir)
    volume = series_volume(sample.dicom_dir)
    assert volume.echo_time == min(echo.echo_time for echo in echoes)
    assert volume.sop_instance_uids == echoes[0].sop_instance_uids


def test_labels_off_the_image_grid_or_not_integer_are_refused(sample, tmp_path):
    """A final label becomes a SEG only through the one label reader (the same checks as
    ``msklabel measure`` and the PACS pipeline)."""
    volume = series_volume(sample.dicom_dir)
    good = volume.with_array(np.zeros(volume.shape, np.uint8))
    good.array[10, 100:120, 100:120] = KneeLabel.FEMUR
    write_nifti(good, tmp_path / "good.nii.gz")
    structures = {int(KneeLabel.FEMUR): "femur"}
    assert label_segmentation(sample.dicom_dir, tmp_path / "good.nii.gz", structures)

    shifted = good.affine.copy()
    shifted[:3, 3] += 5.0
    write_nifti(type(good)(good.array, shifted), tmp_path / "moved.nii.gz")
    with pytest.raises(InputError, match=r"moved\.nii\.gz: affine does not match"):
        label_segmentation(sample.dicom_dir, tmp_path / "moved.nii.gz", structures)
    write_nifti(type(good)(good.array[:3], good.affine), tmp_path / "short.nii.gz")
    with pytest.raises(InputError, match=r"short\.nii\.gz: shape \(3, "):
        label_segmentation(sample.dicom_dir, tmp_path / "short.nii.gz", structures)
    write_nifti(good.with_array(good.array * 0.5), tmp_path / "halves.nii.gz")
    with pytest.raises(InputError, match=r"halves\.nii\.gz: label values must be"):
        label_segmentation(sample.dicom_dir, tmp_path / "halves.nii.gz", structures)


def test_sample_studies_are_written_once(tmp_path):
    folder = sample_studies(tmp_path / "studies")
    image = folder / SAMPLE_IMAGE
    written = image.stat().st_mtime_ns
    assert sample_studies(folder) == folder
    assert image.stat().st_mtime_ns == written
    assert [path.name for path in folder.iterdir()] == [SAMPLE_IMAGE]


def test_a_label_goes_to_seg_and_back(sample, tmp_path):
    volume = series_volume(sample.dicom_dir)
    array = np.zeros(volume.shape, np.uint8)
    array[10:14, 100:140, 90:150] = KneeLabel.FEMUR
    array[10:12, 150:170, 90:150] = KneeLabel.TIBIA
    write_nifti(volume.with_array(array), tmp_path / "label.nii.gz")
    structures = LabelSet.parse("femur,tibia").structures()
    seg = label_segmentation(sample.dicom_dir, tmp_path / "label.nii.gz", structures)
    assert [item.SegmentLabel for item in seg.SegmentSequence] == ["femur", "tibia"]
    seg.save_as(tmp_path / "seg.dcm")
    seg_to_nifti(tmp_path / "seg.dcm", sample.dicom_dir, tmp_path / "back.nii.gz", structures)
    back = read_nifti(tmp_path / "back.nii.gz")
    np.testing.assert_array_equal(back.array, array)
    np.testing.assert_allclose(back.affine, volume.affine, atol=1e-4)
