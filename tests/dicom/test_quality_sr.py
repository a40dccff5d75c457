"""The quality gate in the DICOM objects: a failed structure's values are not in the SR (read
back with pydicom and highdicom), its segment says why, verdicts and reasons are coded, a
demonstration model's result says "not for clinical use", and the validators stay clean."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from msklabel.biomarkers.quality import Verdict
from msklabel.clinical.result import ModelResult
from msklabel.data.phantom import PhantomConfig, write_phantom
from msklabel.dicom.sr import (
    INTENDED_USE,
    NOT_FOR_CLINICAL_USE,
    QUALITY_FINDING,
    QUALITY_VERDICT,
    VERDICT_CODES,
)
from msklabel.dicom.tid1500 import (
    check_measurement_report,
    group_verdict,
    measurement_groups,
    numeric_items,
)
from msklabel.io import read_nifti, read_volumes
from msklabel.labels import KneeLabel
from msklabel.results.study import StudyReport, measure_study
from msklabel.testing.masks import boxes_as_masks

pytestmark = pytest.mark.slow

FAILED = "patellar_cartilage"


@dataclass(frozen=True)
class Written:
    report: StudyReport
    paths: dict[str, Path]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Written:
    """A coarse phantom study whose patellar cartilage is its detector boxes (it fails)."""
    root = tmp_path_factory.mktemp("gate")
    files = write_phantom(
        PhantomConfig(orientation="sagittal", spacing=(3.0, 1.0, 1.0), fov_mm=140), root
    )
    echoes = sorted(read_volumes(files.dicom_dir), key=lambda v: v.echo_time)
    array = np.asarray(read_nifti(files.labels).array).astype(np.uint8)
    labels = echoes[0].with_array(boxes_as_masks(array, [KneeLabel.PATELLAR_CARTILAGE]))
    model = ModelResult("triage_A_any", "Any abnormality", "triage-demo (demonstration)", "1",
                        0.3, 0.5, False, demonstration=True)  # fmt: skip
    report = measure_study(
        echoes[0], labels, echoes=echoes, labels_name="boxes", model_results=[model]
    )
    return Written(report, report.write(root / "out"))


def _concept(item) -> tuple[str, str]:
    code = item.ConceptNameCodeSequence[0]
    return str(code.CodeValue), str(code.CodingSchemeDesignator)


def test_the_failed_structure_has_no_value_in_the_sr(written) -> None:
    assert written.report.quality.verdict(FAILED) == Verdict.FAIL
    sr = pydicom.dcmread(written.paths["sr.dcm"])
    groups = measurement_groups(sr)
    failed = groups[FAILED]
    assert numeric_items(failed) == []
    assert group_verdict(failed) == Verdict.FAIL
    findings = [
        str(i.TextValue)
        for i in failed.ContentSequence
        if i.ValueType == "TEXT" and _concept(i) == (QUALITY_FINDING.value, "99MSKL")
    ]
    assert any("box-likeness" in text for text in findings), findings  # fmt: skip
    assert not [key for key in groups if key.startswith(f"{FAILED} ")]  # no region groups
    for key in ("femur", "femoral_cartilage", "medial_meniscus"):
        assert group_verdict(groups[key]) == Verdict.PASS, key
        assert numeric_items(groups[key]), key
    assert check_measurement_report(sr, pydicom.dcmread(written.paths["seg.dcm"])) == []


def test_highdicom_reads_no_measurement_of_the_failed_structure(written) -> None:
    sr = hd.sr.srread(written.paths["sr.dcm"])
    by_name = {}
    for group in sr.content.get_volumetric_roi_measurement_groups():
        by_name[group.tracking_identifier] = group
    assert by_name[FAILED].get_measurements() == []
    (verdict,) = by_name[FAILED].get_qualitative_evaluations(name=QUALITY_VERDICT)
    assert verdict.value == VERDICT_CODES[Verdict.FAIL]
    assert len(by_name["femoral_cartilage"].get_measurements()) > 5


def test_the_demonstration_model_says_not_for_clinical_use(written) -> None:
    sr = pydicom.dcmread(written.paths["sr.dcm"])
    (model,) = [g for key, g in measurement_groups(sr).items() if key.startswith("model result: ")]
    texts = {_concept(i): str(i.TextValue) for i in model.ContentSequence if i.ValueType == "TEXT"}
    assert texts[(INTENDED_USE.value, "99MSKL")] == NOT_FOR_CLINICAL_USE
    assert "not for clinical use" in NOT_FOR_CLINICAL_USE


def test_the_seg_keeps_the_segment_and_says_why(written) -> None:
    seg = pydicom.dcmread(written.paths["seg.dcm"])
    notes = {str(s.SegmentLabel): str(s.get("SegmentDescription", "")) for s in seg.SegmentSequence}
    assert "values withheld" in notes[FAILED.replace("_", " ")]
    assert notes["femur"] == ""


def test_biomarkers_json_withholds_the_failed_rows(written) -> None:
    data = json.loads(written.paths["biomarkers.json"].read_text())
    assert FAILED not in {row["structure"] for row in data["measurements"]}
    assert FAILED in {row["structure"] for row in data["withheld"]}
    assert data["quality"]["structures"][FAILED]["verdict"] == "fail"


def _errors(path: Path) -> list[str]:
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return [line for line in (run.stdout + run.stderr).splitlines() if "Error" in line]


def test_dciodvfy_stays_clean(written) -> None:
    assert _errors(written.paths["sr.dcm"]) == []
    assert _errors(written.paths["seg.dcm"]) == []
    dump = subprocess.run(["dsrdump", str(written.paths["sr.dcm"])], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert dump.returncode == 0, dump.stderr
    assert "Quality gate verdict" in dump.stdout and "Intended use" in dump.stdout
