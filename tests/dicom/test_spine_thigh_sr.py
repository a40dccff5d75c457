"""SEG and TID 1500 SR of spine and thigh measurements on small synthetic series."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from msklabel.biomarkers import muscle, spine
from msklabel.biomarkers.measurement import Measurements
from msklabel.dicom.codes import PRIVATE_SCHEME, STRUCTURES
from msklabel.dicom.seg import make_segmentation, read_seg_labels, read_source_images
from msklabel.dicom.sr import make_measurement_report
from msklabel.dicom.tid1500 import check_measurement_report
from msklabel.io import read_volumes
from msklabel.io.dicom_write import write_mr_series
from msklabel.labels import SpineLabel, ThighLabel
from msklabel.volume import Volume

#: Voxel size (slice, row, column) in mm: sagittal-like, anisotropic.
SPACING = (3.0, 1.0, 1.0)


@dataclass(frozen=True)
class Case:
    """A label set, how to measure it and the names of its regions."""

    labels: type[IntEnum]
    measure: Callable[[Volume], Measurements]
    region_names: dict[str, str]
    boxes: dict[int, tuple[slice, slice, slice]]  # label -> voxels it fills, in order
    shape: tuple[int, int, int]


#: L4, L4-L5, L5 stacked along the column axis (patient superior-inferior), the canal behind.
SPINE = Case(
    SpineLabel,
    spine.measure_spine,
    spine.REGION_NAMES,
    {
        SpineLabel.L4: np.s_[2:10, 4:30, 2:22],
        SpineLabel.L4_L5: np.s_[2:10, 4:30, 22:30],
        SpineLabel.L5: np.s_[2:10, 4:30, 30:50],
        SpineLabel.SPINAL_CANAL: np.s_[4:8, 32:38, 2:50],
    },
    (12, 42, 52),
)
#: Femur, quadriceps in front, hamstrings behind, a rim of fat, along the column axis.
THIGH = Case(
    ThighLabel,
    muscle.measure_thigh,
    muscle.REGION_NAMES,
    {
        ThighLabel.SUBCUTANEOUS_FAT: np.s_[1:11, 2:46, 2:58],
        ThighLabel.QUADRICEPS: np.s_[2:10, 4:18, 4:56],
        ThighLabel.FEMUR: np.s_[4:8, 20:26, 4:56],
        ThighLabel.HAMSTRINGS: np.s_[2:10, 28:44, 8:52],
    },
    (12, 48, 60),
)


@dataclass(frozen=True)
class Stored:
    case: Case
    source_volume: Volume
    labels: Volume
    measurements: Measurements
    seg_path: Path
    sr_path: Path


def _affine() -> np.ndarray:
    """Slices along patient left, rows posterior, columns inferior."""
    affine = np.eye(4)
    affine[:3, :3] = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, -1.0]]) * SPACING
    return affine


def _structures(case: Case) -> dict[int, str]:
    return {int(label): label.key for label in case.labels}


@pytest.fixture(scope="module", params=[SPINE, THIGH], ids=["spine", "thigh"])
def stored(request, tmp_path_factory) -> Stored:
    case: Case = request.param
    root = tmp_path_factory.mktemp("series")
    array = np.zeros(case.shape, np.uint8)
    for label, box in case.boxes.items():
        array[box] = label
    image = Volume((array * 100.0 + 50.0).astype(np.float32), _affine(), echo_time=10.0)
    write_mr_series([image], root / "mr")
    (source_volume,) = read_volumes(root / "mr")
    labels = source_volume.with_array(array)
    measurements = case.measure(labels)
    source = read_source_images(source_volume)
    seg = make_segmentation(labels, source, structures=_structures(case))
    sr = make_measurement_report(measurements, seg, source, region_names=case.region_names)
    seg_path, sr_path = root / "seg.dcm", root / "sr.dcm"
    seg.save_as(seg_path)
    sr.save_as(sr_path)
    return Stored(case, source_volume, labels, measurements, seg_path, sr_path)


def test_measurements_hold_the_label_set_quantities(stored):
    quantities = {m.quantity for m in stored.measurements}
    expected = "height" if stored.case is SPINE else "cross_sectional_area"
    assert {"volume", expected} <= quantities


def test_tid1500_rules_hold(stored):
    sr, seg = pydicom.dcmread(stored.sr_path), pydicom.dcmread(stored.seg_path)
    assert check_measurement_report(sr, seg) == []


def test_seg_and_sr_pass_dciodvfy(stored):
    for path in (stored.seg_path, stored.sr_path):
        run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
        errors = [line for line in (run.stdout + run.stderr).splitlines() if "Error" in line]
        assert errors == [], path.name


def test_seg_reads_back_as_the_label_map(stored):
    back = read_seg_labels(
        stored.seg_path, stored.source_volume, structures=_structures(stored.case)
    )
    assert np.array_equal(back.array, stored.labels.array)
    seg = pydicom.dcmread(stored.seg_path)
    declared = [i.CodingSchemeDesignator for i in seg.get("CodingSchemeIdentificationSequence", [])]
    assert (PRIVATE_SCHEME in declared) == (stored.case is THIGH)  # private muscle groups


def test_groups_carry_the_structure_codes(stored):
    sr = hd.sr.srread(stored.sr_path)
    groups = sr.content.get_volumetric_roi_measurement_groups()
    written = stored.measurements.groups()
    assert len(groups) == len(written)
    for group, ((structure, region), items) in zip(groups, written.items(), strict=True):
        assert group.finding_type == STRUCTURES[structure].type
        read = group.get_measurements()
        assert [m.value for m in read] == pytest.approx([m.value for m in items], rel=1e-12)
        if region is not None:
            sites = [site.value for site in group.finding_sites]
            assert any(site.meaning == stored.case.region_names[region] for site in sites)
