"""The pipeline end to end with a real Orthanc as the destination."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest

from msklabel.biomarkers import knee
from msklabel.features import StudyIndex
from msklabel.labels import KneeLabel
from msklabel.pacs import Service, StatusStore, load_config
from msklabel.ports import free_port
from msklabel.results import study as study_module
from msklabel.testing.listener import (
    CONSOLE,
    ListenerProcess,
    orthanc_file,
    orthanc_post,
    orthanc_series,
    series_counts,
    storescu,
    wait_for,
    write_config,
)
from msklabel.testing.orthanc import OrthancServer

ONE_SET = {"SEG": [1], "SR": [1], "msklabel report": [1]}


@pytest.fixture
def routed(tmp_path: Path, labels_dir: Path) -> Iterator[tuple[Service, OrthancServer]]:
    """Orthanc, and the routing in this process sending every step's results to it, the
    segmentation read from ``labels_dir`` (no model runs)."""
    with OrthancServer() as orthanc:
        config = load_config(
            storage=tmp_path / "storage",
            listener={"host": "127.0.0.1", "port": 0, "min_free_mb": 1},
            completion={"inactivity_s": 1.5, "check_every_s": 0.2},
            pipeline={"segmentation": "labels", "labels_dir": str(labels_dir)},
            destinations=[{"type": "dicom", "ae_title": orthanc.aet, "host": "127.0.0.1",
                           "port": orthanc.dicom_port}],
            status={"port": 0},
        )  # fmt: skip
        with Service(config) as service:
            yield service, orthanc


def _jobs(service: Service) -> list[dict]:
    return service.status.summary()["jobs"]


@pytest.mark.slow
def test_a_study_sent_twice_gives_one_set_of_results(
    routed, make_study, tmp_path, monkeypatch
) -> None:
    service, orthanc = routed
    measured = []

    def counted(real: Callable) -> Callable:
        def measure(*args, **kwargs):
            measured.append(real)
            return real(*args, **kwargs)

        return measure

    for module in (knee, study_module):  # the biomarkers step and the results step
        monkeypatch.setattr(module, "measure_knee", counted(module.measure_knee))
    study = make_study(demographics=True)
    for _ in range(2):
        sent = storescu(service.listener.port, study.files)
        assert sent.returncode == 0 and "E:" not in sent.stderr, sent.stderr
    done = wait_for(lambda: [j for j in _jobs(service) if j["finished"]], 300, "the job")
    assert [(j["state"], j["error"]) for j in done] == [("done", None)]
    steps = {step["name"]: step for step in done[0]["steps"]}
    assert list(steps) == ["select", "segment", "biomarkers", "clinical", "results", "send"]
    assert all(step["state"] == "done" and step["seconds"] >= 0 for step in steps.values())
    assert "model outputs" in steps["clinical"]["detail"]
    assert len(measured) == 1  # the results step reused the biomarkers step's measurements
    assert series_counts(orthanc, study.study_uid) == ONE_SET

    assert storescu(service.listener.port, study.files).returncode == 0  # after processing
    wait_for(lambda: service.status.summary()["studies"][0]["state"] == "complete", 30, "quiet")
    assert len(_jobs(service)) == 1  # re-sent instances are not new: no second job
    assert series_counts(orthanc, study.study_uid) == ONE_SET
    _check_references(orthanc, study.study_uid, study.series_uid, tmp_path, models=True)


@pytest.mark.slow
def test_the_index_step_adds_every_series_to_the_study_index(make_study, tmp_path) -> None:
    index_dir = tmp_path / "index"
    config = load_config(
        storage=tmp_path / "storage",
        listener={"host": "127.0.0.1", "port": 0, "min_free_mb": 1},
        completion={"inactivity_s": 1.5, "check_every_s": 0.2},
        pipeline={
            "steps": ["select", "index"],
            "index_dir": str(index_dir),
            "index_slices": 3,
            "device": "cpu",
        },
        status={"port": 0},
    )
    studies = [make_study(), make_study()]
    with Service(config) as service:
        for study in studies:
            assert storescu(service.listener.port, study.files).returncode == 0
        done = wait_for(
            lambda: [j for j in _jobs(service) if j["finished"]] if len(
                [j for j in _jobs(service) if j["finished"]]) == 2 else None, 300, "two jobs",
        )  # fmt: skip
    assert [(job["state"], job["error"]) for job in done] == [("done", None)] * 2
    index = StudyIndex.open(index_dir)
    assert sorted(index.ids) == sorted(study.series_uid for study in studies)
    assert index.model_id.startswith("litemedsam:")
    assert "3 slices embedded" in done[0]["steps"][-1]["detail"]
    by_series = {entry["id"]: entry["info"]["study_instance_uid"] for entry in index.entries}
    assert by_series == {study.series_uid: study.study_uid for study in studies}
    # the two studies hold the same pixels: each is the other's nearest, at similarity 1
    found = index.search(index.vectors[0], index.model_id, k=1, exclude=[index.ids[0]])
    assert found[0].id == index.ids[1] and found[0].similarity == pytest.approx(1.0, abs=1e-4)


def _check_references(
    orthanc: OrthancServer, study_uid: str, series_uid: str, folder: Path, models: bool
) -> None:
    """The SEG and the SR in Orthanc reference the source series; the SR holds the clinical
    models' results if ``models`` (dsrdump reads it)."""
    found = {}
    for series in orthanc_series(orthanc, study_uid):
        modality = series["MainDicomTags"]["Modality"]
        if modality in ("SEG", "SR"):
            (instance,) = series["Instances"]
            found[modality] = orthanc_file(orthanc, instance, folder / f"{modality}.dcm")
    seg = pydicom.dcmread(found["SEG"])
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series_uid
    sr = pydicom.dcmread(found["SR"])
    evidence = {
        item.SeriesInstanceUID
        for study in sr.CurrentRequestedProcedureEvidenceSequence
        for item in study.ReferencedSeriesSequence
    }
    assert {series_uid, seg.SeriesInstanceUID} <= evidence
    dump = subprocess.run(["dsrdump", str(found["SR"])], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    assert ("msklabel-triage-demo (demon" in dump.stdout) is models
    assert ("msklabel-tkr-demo (demonstr" in dump.stdout) is models


@pytest.mark.slow
def test_orthanc_routes_the_sample_study_through_the_whole_chain_despite_a_kill(
    sample, tmp_path: Path, processes: list[ListenerProcess]
) -> None:
    """Orthanc's own modality store sends the real sample to ``msklabel listen`` (automatic
    segmentation, LiteMedSAM); the process is SIGKILLed during the segmentation and started
    again; Orthanc ends with one SEG, one SR and one report referencing the series."""
    port, status_port, storage = free_port(), free_port(), tmp_path / "storage"
    with OrthancServer(modalities={"MSKLABEL": ["MSKLABEL", "127.0.0.1", port]}) as orthanc:
        config = write_config(
            tmp_path / "config.json", storage, port,
            listener={"allowed_calling_aes": [orthanc.aet]},
            completion={"inactivity_s": 3.0},
            status={"port": status_port},
            destinations=[{"type": "dicom", "ae_title": orthanc.aet, "host": "127.0.0.1",
                           "port": orthanc.dicom_port}],
        )  # fmt: skip
        first = ListenerProcess(config).start()
        processes.append(first)
        files = sorted(sample.dicom_dir.iterdir())
        for path in files:
            orthanc_post(orthanc, "/instances", path.read_bytes())
        header = pydicom.dcmread(files[0], stop_before_pixels=True)
        study_uid, series_uid = str(header.StudyInstanceUID), str(header.SeriesInstanceUID)
        (study_id,) = orthanc.get("/studies")
        orthanc_post(orthanc, "/modalities/MSKLABEL/store",
                     {"Resources": [study_id], "Synchronous": True})  # fmt: skip
        status = StatusStore(storage / "status.sqlite3")

        def step_running(name: str) -> bool:
            jobs = status.summary()["jobs"]
            return bool(jobs) and any(
                s["name"] == name and s["state"] == "running" for s in jobs[0]["steps"]
            )

        wait_for(lambda: step_running("segment"), 300, "the segmentation")
        first.kill()
        processes.append(ListenerProcess(config).start())
        wait_for(lambda: status.summary()["jobs"][0]["finished"], 900, "the job to finish")
        assert series_counts(orthanc, study_uid) == {"MR": [len(files)], **ONE_SET}
        _check_references(orthanc, study_uid, series_uid, tmp_path, models=False)

        shown = subprocess.run(
            [CONSOLE, "status", "--storage", str(storage)], capture_output=True, text=True
        )
        served = subprocess.run(
            [CONSOLE, "status", "--url", f"http://127.0.0.1:{status_port}/status"],
            capture_output=True, text=True,
        )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert served.stdout == shown.stdout
    assert f"job 1 study {study_uid} revision 1: done (attempts 2)" in shown.stdout
    for step in ("select", "segment", "biomarkers", "clinical", "results", "send"):
        assert re.search(rf"^    {step} +done +\d+\.\d s", shown.stdout, re.MULTILINE), shown.stdout
    assert "models not run" in shown.stdout and "PatientAge" in shown.stdout
    # the sample's header names no side: the fibula tells it (a right knee)
    (sides,) = storage.glob(f"results/{study_uid}/job-*/sides.json")
    assert json.loads(sides.read_text()) == {"knee": "right", "from": "fibula"}
    # the network's zoom spread per structure is recorded and judged by the gate
    (spread,) = storage.glob(f"results/{study_uid}/job-*/zoom_spread.json")
    (biomarkers,) = storage.glob(f"results/{study_uid}/job-*/biomarkers.json")
    judged = json.loads(biomarkers.read_text())["quality"]["structures"]
    recorded = {KneeLabel(int(k)).key: v for k, v in json.loads(spread.read_text()).items()}
    assert {"femur", "femoral_cartilage", "medial_meniscus"} <= set(recorded)
    for key, value in recorded.items():
        assert judged[key]["evidence"]["zoom_spread"] == pytest.approx(value, rel=1e-3)
