"""plugins/orthanc/route-knee-mr.lua in a real Orthanc: once a study is stable, only its knee
MR series go to the MSKLABEL modality (here a second real Orthanc standing in for the
listener)."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from msklabel.testing.listener import orthanc_post, wait_for
from msklabel.testing.orthanc import OrthancServer

SCRIPT = Path(__file__).parents[2] / "plugins" / "orthanc" / "route-knee-mr.lua"

#: Series of one study: (modality, Body Part Examined, Series Description); routed or not.
SERIES = {
    "knee by body part": ("MR", "KNEE", "T2 MAP", True),
    "knee by description": ("MR", None, "Sag PD genou", True),
    "brain": ("MR", "HEAD", "AX T2 BRAIN", False),
    "knee CT": ("CT", "KNEE", "KNEE CT", False),
}


def _study(sample_file: Path, folder: Path, instances: int = 2) -> dict[str, list[Path]]:
    """Copies of a real MR image made into the series of :data:`SERIES`, one new study."""
    study_uid, made = generate_uid(), {}
    for name, (modality, body_part, description, _) in SERIES.items():
        series_uid, made[name] = generate_uid(), []
        for number in range(instances):
            dataset = pydicom.dcmread(sample_file)
            dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study_uid, series_uid
            dataset.SOPInstanceUID = generate_uid()
            dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
            dataset.Modality, dataset.SeriesDescription = modality, description
            dataset.InstanceNumber = number + 1
            if body_part is None:
                dataset.pop("BodyPartExamined", None)
            else:
                dataset.BodyPartExamined = body_part
            path = folder / f"{len(made)}-{number}.dcm"
            dataset.save_as(path)
            made[name].append(path)
    return made


@pytest.mark.slow
def test_the_lua_script_routes_only_knee_mr_series_of_stable_studies(sample, tmp_path) -> None:
    study = _study(sorted(sample.dicom_dir.iterdir())[0], tmp_path)
    with OrthancServer(aet="MSKLABEL") as listener:
        target = {"MSKLABEL": ["MSKLABEL", "127.0.0.1", listener.dicom_port]}
        with OrthancServer(modalities=target, lua_scripts=[SCRIPT]) as pacs:
            for files in study.values():
                for path in files:
                    orthanc_post(pacs, "/instances", path.read_bytes())
            routed = [name for name, (*_, wanted) in SERIES.items() if wanted]
            expected = sum(len(study[name]) for name in routed)
            wait_for(lambda: len(listener.get("/instances")) >= expected, 60, "routed series")

            def jobs_done() -> bool:
                jobs = [pacs.get(f"/jobs/{job}") for job in pacs.get("/jobs")]
                return bool(jobs) and all(job["State"] == "Success" for job in jobs)

            wait_for(jobs_done, 60, "Orthanc's store job")
            assert "msklabel: routing 2 knee MR series" in pacs.log_text()
        descriptions = {
            listener.get(f"/series/{series}")["MainDicomTags"]["SeriesDescription"]
            for series in listener.get("/series")
        }
    assert descriptions == {SERIES[name][2] for name in routed}
