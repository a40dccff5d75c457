"""The quality gate end to end: ``msklabel listen`` (a real process) receives a study by
storescu, its configured segmentation gives cartilage that is the detector's boxes, and the
study gets fail verdicts, an SR in a real Orthanc with no value of the failed structure, no
clinical model run, and a status that says why."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from msklabel.biomarkers.quality import Verdict
from msklabel.dicom.tid1500 import (
    check_measurement_report,
    group_verdict,
    measurement_groups,
    numeric_items,
)
from msklabel.io.nifti import read_nifti, write_nifti
from msklabel.labels import KneeLabel
from msklabel.pacs import StatusStore
from msklabel.ports import free_port
from msklabel.testing.listener import (
    CONSOLE,
    ListenerProcess,
    orthanc_file,
    orthanc_series,
    storescu,
    wait_for,
    write_config,
)
from msklabel.testing.masks import boxes_as_masks
from msklabel.testing.orthanc import OrthancServer

BOXED = KneeLabel.FEMORAL_CARTILAGE


def _boxes(path: Path, label: int) -> None:
    """Replace ``label`` in the label map at ``path`` by its bounding box on every slice."""
    labels = read_nifti(path)
    write_nifti(labels.with_array(boxes_as_masks(np.asarray(labels.array), [label])), path)


@pytest.mark.slow
def test_a_study_whose_cartilage_fails_the_gate(
    make_study, labels_dir: Path, tmp_path: Path, processes: list[ListenerProcess]
) -> None:
    port, storage = free_port(), tmp_path / "storage"
    with OrthancServer() as orthanc:
        config = write_config(
            tmp_path / "config.json", storage, port,
            pipeline={"segmentation": "labels", "labels_dir": str(labels_dir)},
            destinations=[{"type": "dicom", "ae_title": orthanc.aet, "host": "127.0.0.1",
                           "port": orthanc.dicom_port}],
            quality={"field_strength_t": 3.0, "near_bone_mm": 4.0},
        )  # fmt: skip
        processes.append(ListenerProcess(config).start())
        study = make_study(demographics=True)  # the models would run on its header
        _boxes(labels_dir / f"{study.series_uid}.nii.gz", BOXED)
        sent = storescu(port, study.files)
        assert sent.returncode == 0, sent.stderr
        status = StatusStore(storage / "status.sqlite3")
        wait_for(lambda: status.summary()["jobs"] and status.summary()["jobs"][0]["finished"],
                 300, "the job")  # fmt: skip
        (job,) = status.summary()["jobs"]
        assert (job["state"], job["error"]) == ("done", None)
        steps = {step["name"]: step["detail"] for step in job["steps"]}
        assert f"{BOXED.key} fail (" in steps["biomarkers"]
        assert steps["clinical"].startswith(f"models not run: quality gate failed {BOXED.key}")

        folder = storage / "results" / study.study_uid / f"job-{job['id']}"
        clinical = json.loads((folder / "clinical.json").read_text())
        assert "predictions" not in clinical  # the models did not run
        assert clinical["not_run"][0].startswith(f"quality gate failed {BOXED.key}")
        biomarkers = json.loads((folder / "biomarkers.json").read_text())
        assert biomarkers["quality"]["structures"][BOXED.key]["verdict"] == "fail"
        assert BOXED.key not in {row["structure"] for row in biomarkers["measurements"]}

        found = {}
        for series in orthanc_series(orthanc, study.study_uid):
            modality = series["MainDicomTags"]["Modality"]
            if modality in ("SEG", "SR"):
                (instance,) = series["Instances"]
                found[modality] = orthanc_file(orthanc, instance, tmp_path / f"{modality}.dcm")
        groups = measurement_groups(pydicom.dcmread(found["SR"]))
        assert group_verdict(groups[BOXED.key]) == Verdict.FAIL
        assert numeric_items(groups[BOXED.key]) == []  # nothing of it as a measurement
        assert not [key for key in groups if key.startswith(f"{BOXED.key} ")]  # no regions
        assert group_verdict(groups["femur"]) == Verdict.PASS and numeric_items(groups["femur"])
        assert not [key for key in groups if key.startswith("model result: ")]
        sr, seg = pydicom.dcmread(found["SR"]), pydicom.dcmread(found["SEG"])
        assert check_measurement_report(sr, seg) == []

        shown = subprocess.run([CONSOLE, "status", "--storage", str(storage)],
                               capture_output=True, text=True)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert f"models not run: quality gate failed {BOXED.key}" in shown.stdout
    assert "box-likeness" in shown.stdout
