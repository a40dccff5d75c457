"""NIfTI round trips and the dispatch of read_volumes."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.errors import InputError
from msklabel.io import read_volumes
from msklabel.io.nifti import read_nifti, write_nifti
from msklabel.volume import Volume


def _volume(dtype: type = np.uint16) -> Volume:
    """A sagittal volume whose affine is exact in float32 (NIfTI stores the sform as float32)."""
    affine = np.array(
        [
            [-2.5, 0.0, 0.0, -40.25],
            [0.0, 0.0, 0.5, 12.5],
            [0.0, -0.625, 0.0, 30.75],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    array = np.random.default_rng(0).integers(0, 1000, size=(4, 5, 6)).astype(dtype)
    return Volume(array=array, affine=affine)


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_round_trip_is_exact(tmp_path, dtype, suffix):
    written = _volume(dtype)
    path = tmp_path / f"image{suffix}"
    write_nifti(written, path)

    volume = read_nifti(path)

    np.testing.assert_array_equal(volume.affine, written.affine)
    np.testing.assert_array_equal(volume.array, written.array)
    assert volume.array.dtype == written.array.dtype
    assert volume.source_files == (str(path),)


def test_oblique_nifti_round_trip_is_float32_precise(dicom, tmp_path):
    written = dicom.make_volume("oblique")
    write_nifti(written, tmp_path / "oblique.nii.gz")
    volume = read_nifti(tmp_path / "oblique.nii.gz")
    np.testing.assert_allclose(volume.affine, written.affine, atol=1e-4)
    np.testing.assert_array_equal(volume.array, written.array)


def test_read_volumes_sends_nifti_paths_to_the_nifti_reader(dicom, tmp_path):
    write_nifti(_volume(), tmp_path / "a.nii")
    write_nifti(_volume(np.float32), tmp_path / "b.NII.GZ")
    dicom.series(folder="dicom")

    assert len(read_volumes(tmp_path / "a.nii")) == 1
    volumes = read_volumes([tmp_path / "a.nii", tmp_path / "dicom", tmp_path / "b.NII.GZ"])

    assert [volume.array.dtype for volume in volumes] == [np.uint16, np.float32, np.uint16]
    assert [volume.series_instance_uid is None for volume in volumes] == [True, True, False]


def test_read_volumes_of_a_damaged_nifti_is_an_input_error(tmp_path):
    path = tmp_path / "broken.nii.gz"
    path.write_bytes(b"not gzip")
    with pytest.raises(InputError, match=r"broken\.nii\.gz: not a readable NIfTI"):
        read_volumes(path)
