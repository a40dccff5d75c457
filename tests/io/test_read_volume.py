"""read_volume: selecting exactly one volume by Series Instance UID and echo time; read_echoes:
the echoes of one series, DICOM or NIfTI, by echo time."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from msklabel.errors import InputError
from msklabel.io import echo_at, read_echoes, read_volume
from msklabel.io.nifti import write_nifti


def _three_echoes(dicom):
    echoes = [dicom.make_volume(echo_time=te, seed=i) for i, te in enumerate((10.0, 20.0, 30.0))]
    paths = dicom.series(echoes, description="MESE knee")
    return echoes, pydicom.dcmread(paths[0]).SeriesInstanceUID


def test_a_single_series_needs_no_selection(dicom):
    dicom.series()
    volume = read_volume(dicom.root / "series")
    np.testing.assert_array_equal(volume.array, dicom.make_volume().array)


def test_several_echoes_without_selection_list_what_was_found(dicom):
    _, uid = _three_echoes(dicom)
    with pytest.raises(InputError) as caught:
        read_volume(dicom.root)
    message = str(caught.value)
    assert str(dicom.root) in message and "3 volumes match" in message
    for te in ("10", "20", "30"):
        assert f"series {uid} 'MESE knee', echo time {te} ms, 6 slices" in message


def test_echo_time_selects_one_echo(dicom):
    echoes, _ = _three_echoes(dicom)
    volume = read_volume(dicom.root, echo_time=20)
    assert volume.echo_time == 20.0
    np.testing.assert_array_equal(volume.array, echoes[1].array)


def test_series_uid_selects_one_series_and_leaves_others_undecoded(dicom):
    good = dicom.series([dicom.make_volume(seed=1)], folder="good", series_number=2)
    broken = dicom.series([dicom.make_volume(seed=2)], folder="broken", series_number=1)
    dicom.edit(broken[2], ImageOrientationPatient=["0", "1", "0", "0", "0", "-1"])
    uid = pydicom.dcmread(good[0]).SeriesInstanceUID

    volume = read_volume(dicom.root, series_instance_uid=uid)

    assert volume.series_instance_uid == uid
    np.testing.assert_array_equal(volume.array, dicom.make_volume(seed=1).array)


def test_no_match_is_an_error_listing_what_was_found(dicom):
    _, uid = _three_echoes(dicom)
    with pytest.raises(InputError) as caught:
        read_volume(dicom.root, series_instance_uid=uid, echo_time=15.0)
    message = str(caught.value)
    assert "no volume matches" in message and "echo_time=15.0" in message
    assert message.count(f"series {uid}") == 3


def test_nifti_input(dicom, tmp_path):
    written = dicom.make_volume("sagittal")
    write_nifti(written, tmp_path / "t2.nii.gz")
    volume = read_volume(tmp_path / "t2.nii.gz")
    np.testing.assert_array_equal(volume.array, written.array)
    with pytest.raises(InputError, match=r"no volume matches.*6 slices"):
        read_volume(tmp_path / "t2.nii.gz", echo_time=10.0)


def test_empty_file_list_is_an_error():
    with pytest.raises(InputError, match="no file or folder given"):
        read_volume([])


def test_read_echoes_gives_one_series_by_echo_time_from_dicom_or_nifti(dicom, tmp_path):
    echoes, uid = _three_echoes(dicom)
    dicom.series([dicom.make_volume(seed=9)], folder="other", series_number=2)
    with pytest.raises(InputError, match=rf"several series .*found: .*{uid}"):
        read_echoes(dicom.root)
    read = read_echoes(dicom.root, uid)
    assert [v.echo_time for v in read] == [10.0, 20.0, 30.0]
    np.testing.assert_array_equal(echo_at(read, 20.0 + 1e-4).array, echoes[1].array)
    assert echo_at(read, 15.0) is None

    write_nifti(echoes[0], tmp_path / "t2.nii.gz")
    (nifti,) = read_echoes([tmp_path / "t2.nii.gz"])
    np.testing.assert_array_equal(nifti.array, echoes[0].array)
