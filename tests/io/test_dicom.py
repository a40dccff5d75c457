"""The DICOM series reader: geometry, grouping, pixel values and every kind of bad input."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

from msklabel.errors import InputError
from msklabel.io.dicom import read_dicom_series, scan_dicom_series

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
GRAYSCALE_PRESENTATION_STATE = "1.2.840.10008.5.1.4.1.1.11.1"
KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"


def _only(volumes):
    assert len(volumes) == 1
    return volumes[0]


def _error(source, **options) -> str:
    with pytest.raises(InputError) as caught:
        read_dicom_series(source, **options)
    return str(caught.value)


def _ds_list(values) -> list[str]:
    return [f"{value:.6f}" for value in values]


# --- geometry and pixel values ---------------------------------------------------------------


@pytest.mark.parametrize("orientation", ["axial", "sagittal", "oblique"])
def test_round_trip_ignores_file_order_and_instance_numbers(dicom, orientation):
    written = dicom.make_volume(orientation, shape=(6, 7, 5), spacing=(2.5, 0.6, 0.45))
    paths = dicom.scramble(dicom.series([written]))
    numbers = [pydicom.dcmread(path).InstanceNumber for path in paths]
    assert numbers != sorted(numbers) and [p.name for p in paths] != sorted(p.name for p in paths)

    volume = _only(read_dicom_series(dicom.root / "series"))

    np.testing.assert_allclose(volume.affine, written.affine, atol=1e-4)
    np.testing.assert_array_equal(volume.array, written.array)
    assert volume.array.dtype == np.uint16
    assert volume.source_files == tuple(str(path) for path in paths)
    for k, path in enumerate(paths):
        header = pydicom.dcmread(path, stop_before_pixels=True)
        assert volume.sop_instance_uids[k] == header.SOPInstanceUID
        ipp = np.array(header.ImagePositionPatient, dtype=float)
        np.testing.assert_allclose(volume.index_to_patient([k, 0, 0]), ipp, atol=1e-4)


def test_volume_fields_are_filled(dicom):
    paths = dicom.series(description="sag PD")
    header = pydicom.dcmread(paths[0], stop_before_pixels=True)

    volume = _only(read_dicom_series(dicom.root / "series"))

    assert volume.echo_time == 10.0
    assert volume.series_instance_uid == header.SeriesInstanceUID
    assert volume.study_instance_uid == header.StudyInstanceUID
    assert volume.frame_of_reference_uid == header.FrameOfReferenceUID
    assert volume.sop_class_uid == "1.2.840.10008.5.1.4.1.1.4"
    assert volume.modality == "MR"
    assert volume.series_description == "sag PD"
    assert len(volume.sop_instance_uids) == len(volume.source_files) == volume.shape[0]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2D"], "2D"),
        (["3D"], "3D"),
        ([" 3d"], "3D"),
        (["2D", "3D"], None),  # images disagree: unknown
        (["SPIRAL"], None),
        ([None], None),
    ],
)
def test_acquisition_type_is_read_where_every_image_agrees(dicom, values, expected):
    paths = dicom.series([dicom.make_volume(shape=(3, 4, 5))])
    for k, path in enumerate(paths):
        dicom.edit(path, MRAcquisitionType=values[k % len(values)])

    assert _only(read_dicom_series(paths)).acquisition_type == expected


def test_slices_stepping_against_the_normal_are_reordered(dicom):
    written = dicom.make_volume("oblique", reverse=True)
    dicom.series([written])

    volume = _only(read_dicom_series(dicom.root / "series"))

    np.testing.assert_array_equal(volume.array, written.array[::-1])
    last = written.shape[0] - 1
    np.testing.assert_allclose(volume.affine[:3, 0], -written.affine[:3, 0], atol=1e-4)
    np.testing.assert_allclose(
        volume.affine[:3, 3], written.index_to_patient([last, 0, 0]), atol=1e-4
    )
    np.testing.assert_allclose(volume.affine[:3, 1:3], written.affine[:3, 1:3], atol=1e-4)


def test_single_file_and_file_list_inputs(dicom):
    paths = dicom.series([dicom.make_volume(shape=(3, 4, 5))])
    assert _only(read_dicom_series(paths[1])).shape == (1, 4, 5)
    assert _only(read_dicom_series([str(path) for path in paths[:2]])).shape == (2, 4, 5)


def test_single_slice_step_comes_from_spacing_between_slices(dicom):
    written = dicom.make_volume("oblique", shape=(1, 4, 5))
    dicom.series([written])
    volume = _only(read_dicom_series(dicom.root / "series"))
    np.testing.assert_allclose(volume.affine, written.affine, atol=1e-4)


def test_single_slice_step_falls_back_to_slice_thickness(dicom):
    (path,) = dicom.series([dicom.make_volume("sagittal", shape=(1, 4, 5))])
    dicom.edit(path, SpacingBetweenSlices=None, SliceThickness="3.0")
    volume = _only(read_dicom_series(path))
    np.testing.assert_allclose(volume.affine[:3, 0], [-3.0, 0, 0], atol=1e-9)


def test_single_slice_without_spacing_is_an_error(dicom):
    (path,) = dicom.series([dicom.make_volume(shape=(1, 4, 5))])
    dicom.edit(path, SpacingBetweenSlices=None, SliceThickness=None)
    message = _error(path)
    assert path.name in message and "slice spacing is unknown" in message


def test_rescale_slope_and_intercept_give_float32(dicom):
    written = dicom.make_volume(shape=(3, 4, 5))
    for path in dicom.series([written]):
        dicom.edit(path, RescaleSlope="0.5", RescaleIntercept="-10")

    volume = _only(read_dicom_series(dicom.root / "series"))

    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array, written.array * np.float32(0.5) - 10)


# --- grouping --------------------------------------------------------------------------------


def test_multi_echo_series_splits_into_echoes_sorted_by_echo_time(dicom):
    echoes = [dicom.make_volume(echo_time=te, seed=i) for i, te in enumerate((30.0, 10.0, 20.0))]
    dicom.scramble(dicom.series(echoes))

    volumes = read_dicom_series(dicom.root / "series")

    assert [volume.echo_time for volume in volumes] == [10.0, 20.0, 30.0]
    assert len({volume.series_instance_uid for volume in volumes}) == 1
    for volume, written in zip(volumes, [echoes[1], echoes[2], echoes[0]], strict=True):
        np.testing.assert_array_equal(volume.array, written.array)
        np.testing.assert_allclose(volume.affine, written.affine, atol=1e-4)


def test_folder_with_two_series_splits_ordered_by_series_number(dicom):
    dicom.series([dicom.make_volume("sagittal", seed=1)], folder="a", series_number=7)
    dicom.series([dicom.make_volume("axial", seed=2)], folder="b", series_number=3)

    volumes = read_dicom_series(dicom.root)

    assert [volume.series_description for volume in volumes] == ["t2", "t2"]
    assert [scan.series_number for scan in scan_dicom_series(dicom.root)] == [3, 7]
    np.testing.assert_array_equal(volumes[0].array, dicom.make_volume("axial", seed=2).array)
    np.testing.assert_array_equal(volumes[1].array, dicom.make_volume("sagittal", seed=1).array)


def test_dicomdir_and_hidden_files_are_ignored(dicom):
    dicom.series()
    folder = dicom.root / "series"
    for junk in (folder / "DICOMDIR", folder / ".DS_Store", folder / ".cache" / "junk"):
        junk.parent.mkdir(exist_ok=True)
        junk.write_bytes(b"not dicom")
    assert _only(read_dicom_series(folder)).shape == (6, 7, 5)


# --- unreadable files ------------------------------------------------------------------------


def test_non_dicom_file_is_an_error(dicom):
    dicom.series()
    junk = dicom.root / "series" / "notes.txt"
    junk.write_text("scanner notes")
    message = _error(dicom.root)
    assert str(junk) in message and "not a DICOM file" in message


def test_non_dicom_file_can_be_skipped_with_a_warning(dicom, caplog):
    dicom.series()
    junk = dicom.root / "series" / "notes.txt"
    junk.write_text("scanner notes")
    with caplog.at_level(logging.WARNING, logger="msklabel.io.dicom"):
        volume = _only(read_dicom_series(dicom.root, on_invalid="skip"))
    assert volume.shape == (6, 7, 5)
    assert str(junk) in caplog.text and "skipping" in caplog.text


def test_file_truncated_inside_pixel_data_is_an_error(dicom):
    path = dicom.series()[2]
    path.write_bytes(path.read_bytes()[:-20])
    message = _error(dicom.root)
    assert str(path) in message and "truncated" in message


def test_file_truncated_inside_the_header_is_an_error(dicom):
    path = dicom.series()[2]
    path.write_bytes(path.read_bytes()[:700])
    message = _error(dicom.root)
    assert str(path) in message and "no Pixel Data" in message and "truncated" in message


def test_image_without_geometry_is_an_error(dicom):
    path = dicom.series()[0]
    dicom.edit(path, ImagePositionPatient=None)
    message = _error(dicom.root)
    assert str(path) in message and "ImagePositionPatient" in message


def test_color_image_is_an_error(dicom):
    path = dicom.series()[0]
    dicom.edit(path, SamplesPerPixel=3)
    message = _error(dicom.root)
    assert str(path) in message and "3 samples per pixel" in message


# --- slice positions -------------------------------------------------------------------------


def test_missing_slice_is_an_error_naming_both_neighbours(dicom):
    paths = dicom.series()
    paths[3].unlink()
    message = _error(dicom.root)
    assert "missing slice" in message
    assert str(paths[2]) in message and str(paths[4]) in message


def test_duplicate_slice_position_is_an_error_naming_both_files(dicom):
    paths = dicom.series()
    position = pydicom.dcmread(paths[1]).ImagePositionPatient
    dicom.edit(paths[4], ImagePositionPatient=position)
    message = _error(dicom.root)
    assert "duplicate slice position" in message
    assert str(paths[1]) in message and str(paths[4]) in message


def test_unevenly_spaced_slices_are_an_error(dicom):
    paths = dicom.series()
    position = np.array(pydicom.dcmread(paths[2]).ImagePositionPatient, dtype=float)
    dicom.edit(
        paths[2], ImagePositionPatient=_ds_list(position + np.array([1.0, 0, 0]))
    )  # in-plane
    message = _error(dicom.root)
    assert "unevenly spaced" in message and str(dicom.root / "series") in message


@pytest.mark.parametrize(
    ("attribute", "value", "reason"),
    [
        ("ImageOrientationPatient", ["0", "1", "0", "0", "0", "-1"], "Image Orientation"),
        ("PixelSpacing", ["0.7", "0.45"], "Pixel Spacing"),
        ("Rows", 8, "size (rows, columns)"),
        ("Columns", 4, "size (rows, columns)"),
    ],
)
def test_inconsistent_geometry_in_one_series_is_an_error(dicom, attribute, value, reason):
    paths = dicom.series()
    dicom.edit(paths[3], **{attribute: value})
    message = _error(dicom.root)
    assert str(paths[3]) in message and f"inconsistent {reason}" in message


# --- other objects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sop_class", "name"),
    [
        (BASIC_TEXT_SR, "Basic Text SR"),
        (SEGMENTATION, "Segmentation"),
        (GRAYSCALE_PRESENTATION_STATE, "Presentation State"),
        (KEY_OBJECT_SELECTION, "Key Object Selection"),
    ],
)
def test_explicit_non_image_file_is_an_error(dicom, sop_class, name):
    path = dicom.non_image("object.dcm", sop_class)
    message = _error(path)
    assert str(path) in message and "not an image" in message and name in message


def test_non_image_objects_in_a_folder_are_skipped_with_a_warning(dicom, caplog):
    dicom.series()
    sr = dicom.non_image("series/report.dcm", BASIC_TEXT_SR)
    seg = dicom.non_image("series/seg/seg.dcm", SEGMENTATION)
    with caplog.at_level(logging.WARNING, logger="msklabel.io.dicom"):
        volume = _only(read_dicom_series(dicom.root))
    assert volume.shape == (6, 7, 5)
    assert str(sr) in caplog.text and str(seg) in caplog.text


def test_folder_without_images_is_an_error(dicom):
    dicom.non_image("report.dcm", BASIC_TEXT_SR)
    message = _error(dicom.root)
    assert str(dicom.root) in message and "no DICOM image among 1 file(s)" in message


def test_empty_folder_is_an_error(tmp_path):
    message = _error(tmp_path)
    assert str(tmp_path) in message and "no files found" in message


def test_missing_path_is_an_error(tmp_path):
    message = _error(tmp_path / "nowhere")
    assert "nowhere" in message and "no such file or folder" in message


def test_multi_frame_image_is_an_error(dicom):
    path = dicom.series([dicom.make_volume(shape=(1, 4, 5))])[0]
    dicom.edit(path, SOPClassUID=ENHANCED_MR, NumberOfFrames=2)
    message = _error(path)
    assert str(path) in message and "multi-frame" in message and "not supported" in message


def _compress(dicom, transfer_syntax: str) -> Path:
    path = dicom.series([dicom.make_volume(shape=(1, 4, 5))])[0]
    dataset = pydicom.dcmread(path)
    dataset.file_meta.TransferSyntaxUID = transfer_syntax
    dataset.PixelData = encapsulate([b"not a codestream"])
    dataset["PixelData"].VR = "OB"
    dataset.save_as(path)
    return path


def test_jpeg_2000_pixel_data_that_cannot_be_decoded_is_an_error(dicom):
    path = _compress(dicom, "1.2.840.10008.1.2.4.90")
    message = _error(path)
    # Without a JPEG 2000 plugin the reader asks for one; with one (e.g. Pillow) decoding fails.
    assert str(path) in message and "JPEG 2000" in message and "1.2.840.10008.1.2.4.90" in message
    assert "decoder" in message or "cannot decode" in message


def test_transfer_syntax_without_decoder_asks_for_a_plugin(dicom):
    path = _compress(dicom, "1.2.840.10008.1.2.4.92")  # JPEG 2000 Part 2: no pydicom decoder
    message = _error(path)
    assert str(path) in message and "1.2.840.10008.1.2.4.92" in message
    assert "no installed decoder" in message and "decoder plugin is needed" in message


def test_patient_identifiers_never_reach_logs_or_errors(dicom, caplog):
    paths = dicom.series()
    dicom.non_image("series/report.dcm", BASIC_TEXT_SR)
    (dicom.root / "series" / "junk").write_text("junk")
    paths[2].unlink()
    with caplog.at_level(logging.DEBUG):
        message = _error(dicom.root, on_invalid="skip")
    for identifier in ("DOE", "JANE", "MRN12345"):
        assert identifier not in caplog.text and identifier not in message
