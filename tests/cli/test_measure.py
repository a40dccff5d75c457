"""``msklabel measure``: every output file from a phantom, values against its truth, errors."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from msklabel.biomarkers.measurement import Measurements
from msklabel.cli import measure
from msklabel.data.phantom import PhantomConfig, write_phantom
from msklabel.dicom.seg import read_seg_labels
from msklabel.dicom.tid1500 import check_measurement_report
from msklabel.errors import InputError
from msklabel.io import read_nifti, read_volumes
from msklabel.io.dicom_write import write_mr_series
from msklabel.io.nifti import write_nifti
from msklabel.labels import BONES, CARTILAGE_PLATES, MENISCI, KneeLabel
from msklabel.results.study import OUTPUT_FILES, read_labels
from msklabel.volume import Volume


def run(*argv: str | Path) -> int:
    """``msklabel measure ARGV`` through the command's own parser."""
    parser = argparse.ArgumentParser(prog="msklabel")
    measure.register(parser.add_subparsers())
    args = parser.parse_args(["measure", *map(str, argv)])
    return args.handler(args)


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> tuple[Path, dict, Path]:
    """A sagittal phantom measured by the command: (its folder, truth, output folder)."""
    root = tmp_path_factory.mktemp("measure")
    files = write_phantom(PhantomConfig(), root)
    out = root / "out"
    assert run(files.dicom_dir, "--labels", files.labels, "--out", out) == 0
    return root, json.loads(files.truth.read_text()), out


@pytest.mark.slow
def test_writes_every_file_and_values_match_the_truth(measured):
    _, truth, out = measured
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    document = json.loads((out / "biomarkers.json").read_text())
    assert document["source"]["echo_times_ms"] == truth["echo_times_ms"]
    m = Measurements.from_json(document)
    for plate in CARTILAGE_PLATES:
        plate_truth = truth["cartilage"][plate.key]
        assert m.get(plate.key, "thickness", "mean") == pytest.approx(
            plate_truth["mean_thickness_mm"], abs=0.1
        )
        assert m.get(plate.key, "area") == pytest.approx(plate_truth["bone_area_mm2"], rel=0.06)
        assert m.get(plate.key, "volume") == pytest.approx(
            plate_truth["analytic_volume_mm3"], rel=0.02
        )
        t2 = truth["tissues"][plate.key]["t2_ms"]
        assert m.get(plate.key, "t2", "mean") == pytest.approx(t2, rel=0.05)
    for meniscus in MENISCI:
        expected = truth["menisci"][meniscus.key]["analytic_volume_mm3"]
        assert m.get(meniscus.key, "volume") == pytest.approx(expected, rel=0.02)
    for label in (*BONES, KneeLabel.MUSCLE):
        expected = truth["tissues"][label.key]["volume_mm3"]
        assert m.get(label.key, "volume") == pytest.approx(expected, rel=0.025)


@pytest.mark.slow
def test_seg_and_sr_pass_the_tid1500_checks_and_read_back(measured):
    root, _, out = measured
    seg, sr = pydicom.dcmread(out / "seg.dcm"), pydicom.dcmread(out / "sr.dcm")
    assert check_measurement_report(sr, seg) == []
    echoes = sorted(read_volumes(root / "dicom"), key=lambda v: v.echo_time)
    back = read_seg_labels(out / "seg.dcm", echoes[0])
    assert np.array_equal(back.array, read_nifti(root / "labels.nii.gz").array)
    assert np.array_equal(read_labels(out / "seg.dcm", echoes[0]).array, back.array)


@pytest.mark.slow
def test_report_is_a_secondary_capture_in_the_study(measured):
    root, _, out = measured
    image = pydicom.dcmread(out / "report.dcm")
    source = pydicom.dcmread(next((root / "dicom").iterdir()))
    assert image.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
    assert image.StudyInstanceUID == source.StudyInstanceUID
    assert image.SamplesPerPixel == 3 and image.Rows > 500
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "report.pdf").read_bytes()[:4] == b"%PDF"
    if shutil.which("dciodvfy"):
        run_ = subprocess.run(["dciodvfy", out / "report.dcm"], capture_output=True, text=True)
        assert "Error" not in run_.stdout + run_.stderr


@pytest.fixture
def small_series(tmp_path) -> tuple[Path, Volume]:
    """A 4 x 8 x 8 two-echo series on disk and its first echo as read back."""
    affine = np.diag([3.0, 0.5, 0.5, 1.0])
    affine[:3, 3] = (10.0, -20.0, 5.0)
    ramp = np.arange(4 * 8 * 8, dtype=np.float32).reshape(4, 8, 8)
    echoes = [Volume(ramp + 100 * (2 - k), affine, echo_time=10.0 * (k + 1)) for k in range(2)]
    write_mr_series(echoes, tmp_path / "dicom")
    return tmp_path, min(read_volumes(tmp_path / "dicom"), key=lambda v: v.echo_time)


def test_labels_of_another_shape_are_refused(small_series):
    root, echo = small_series
    write_nifti(Volume(np.zeros((4, 8, 9), np.uint8), echo.affine), root / "labels.nii.gz")
    with pytest.raises(InputError, match=r"labels\.nii\.gz: shape \(4, 8, 9\) does not match"):
        run(root / "dicom", "--labels", root / "labels.nii.gz", "--out", root / "out")


def test_labels_on_a_shifted_grid_are_refused_with_the_tolerance(small_series):
    root, echo = small_series
    shifted = echo.affine.copy()
    shifted[2, 3] += 0.1
    write_nifti(Volume(np.ones(echo.shape, np.uint8), shifted), root / "labels.nii.gz")
    with pytest.raises(
        InputError, match=r"labels\.nii\.gz: affine .* up to 0\.1 mm \(tolerance 0\.005 mm\)"
    ):
        run(root / "dicom", "--labels", root / "labels.nii.gz", "--out", root / "out")


def test_unknown_series_and_echo_time_are_refused(small_series):
    root, echo = small_series
    write_nifti(Volume(np.ones(echo.shape, np.uint8), echo.affine), root / "labels.nii.gz")
    common = ("--labels", root / "labels.nii.gz", "--out", root / "out")
    with pytest.raises(InputError, match=r"no series 1\.2\.3; found: "):
        run(root / "dicom", *common, "--series-uid", "1.2.3")
    with pytest.raises(InputError, match="no echo at 15 ms; echo times: 10, 20"):
        run(root / "dicom", *common, "--echo-time", "15")
    assert not (root / "out").exists()
