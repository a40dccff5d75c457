"""SEG and TID 1500 SR of a measured phantom: validators, read-back, template rules."""

from __future__ import annotations

import subprocess

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from msklabel.dicom.seg import read_seg_labels, segment_numbers
from msklabel.dicom.sr import DECISION, MODEL_GROUP_PREFIX, PROBABILITY, THRESHOLD
from msklabel.dicom.tid1500 import check_measurement_report

pytestmark = pytest.mark.slow


ALGORITHM_NAME = "111001"  # DCM "Algorithm Name"


def _errors(path) -> list[str]:
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return [line for line in (run.stdout + run.stderr).splitlines() if "Error" in line]


def test_seg_and_sr_pass_dciodvfy(stored_study):
    assert _errors(stored_study.seg_path) == []
    assert _errors(stored_study.sr_path) == []


def test_dsrdump_parses_the_sr(stored_study):
    run = subprocess.run(
        ["dsrdump", str(stored_study.sr_path)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert "Imaging Measurement Report" in run.stdout
    assert "Cartilage thickness" in run.stdout


def test_seg_reads_back_as_the_label_map(stored_study):
    seg = hd.seg.segread(stored_study.seg_path)
    assert seg.SegmentationType == "BINARY"
    assert seg.SeriesInstanceUID != stored_study.echoes[0].series_instance_uid
    assert seg.StudyInstanceUID == stored_study.echoes[0].study_instance_uid
    algorithm = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "msklabel"
    assert len(segment_numbers(seg)) == len(np.unique(stored_study.labels.array)) - 1
    back = read_seg_labels(stored_study.seg_path, stored_study.echoes[0])
    assert np.array_equal(back.array, stored_study.labels.array)


def test_every_measurement_reads_back_equal(stored_study):
    sr = hd.sr.srread(stored_study.sr_path)
    groups = sr.content.get_volumetric_roi_measurement_groups()
    written = stored_study.result.measurements.groups()
    assert len(groups) == len(written)
    for group, ((structure, region), items) in zip(groups, written.items(), strict=True):
        expected = structure if region is None else f"{structure} {region}"
        assert group.tracking_identifier == expected
        read = group.get_measurements()
        assert len(read) == len(items)
        for measurement, item in zip(read, items, strict=True):
            assert measurement.value == pytest.approx(item.value, rel=1e-12)
            assert measurement.unit.value == item.unit
            derivation = measurement.derivation  # a count has none
            assert (derivation is None) == (item.derivation in (None, "count"))
        assert group.roi is None
        assert group.referenced_segment is not None


def test_tid1500_rules_hold(stored_study):
    sr = pydicom.dcmread(stored_study.sr_path)
    seg = pydicom.dcmread(stored_study.seg_path)
    assert check_measurement_report(sr, seg) == []


def test_tid1500_rules_catch_a_missing_procedure_and_a_dangling_segment(stored_study):
    sr = pydicom.dcmread(stored_study.sr_path)
    seg = pydicom.dcmread(stored_study.seg_path)
    sr.ContentSequence = [
        item for item in sr.ContentSequence if item.ConceptNameCodeSequence[0].CodeValue != "121058"
    ]
    seg.SegmentSequence = seg.SegmentSequence[:1]
    problems = check_measurement_report(sr, seg)
    assert "no 'Procedure reported'" in problems
    assert any("absent from the SEG" in p for p in problems)


def test_clinical_model_results_read_back(stored_study):
    sr = hd.sr.srread(stored_study.sr_path)
    groups = {str(group.tracking_identifier): group for group in _model_groups(sr)}
    predictions = stored_study.prediction.predictions
    assert len(groups) == len(predictions) == 10  # 8 triage outputs, TKR and OA risk
    for p in predictions:
        group = groups[MODEL_GROUP_PREFIX + p.name]
        assert group.finding_type.meaning == p.description
        (probability,) = group.get_measurements(name=PROBABILITY)
        assert probability.value == pytest.approx(p.probability)
        assert probability.unit == codes.UCUM.NoUnits
        (threshold,) = group.get_measurements(name=THRESHOLD)
        assert threshold.value == pytest.approx(p.threshold)
        decisions = group.get_qualitative_evaluations(name=DECISION)
        if p.decision is None:
            assert decisions == []
        else:
            assert decisions[0].value == (codes.SCT.Present if p.decision else codes.SCT.Absent)
        algorithm = _algorithm_name(group)
        assert algorithm == f"{p.model_id} (demonstration)"


def _model_groups(sr) -> list:
    return [
        group
        for group in sr.content.get_image_measurement_groups()
        if str(group.tracking_identifier).startswith(MODEL_GROUP_PREFIX)
    ]


def _algorithm_name(group) -> str:
    (name,) = (
        item.TextValue
        for item in group[0].ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue == ALGORITHM_NAME
    )
    return name
