"""The Storage SCP with real dcmtk peers: called and calling AE titles, parallel senders,
kept-aside instances (an undecodable JPEG 2000 one answered with a failure), DICOM TLS
with certificates made at test time."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import MPEG2MPML, BasicTextSRStorage, ExplicitVRLittleEndian, generate_uid

from msklabel.pacs import Service, load_config
from msklabel.pacs.intake import Intake
from msklabel.pacs.listener import Listener
from msklabel.pacs.status import StatusStore
from msklabel.pacs.storage import InstanceStore
from msklabel.testing.listener import certificate, jpeg2000_copy, storescu, wait_for


@pytest.fixture
def service(tmp_path: Path, labels_dir: Path) -> Iterator[Service]:
    """The whole routing in this process: listener on a free port, labels-driven pipeline
    (select and segment only: no model runs), no destinations."""
    config = load_config(
        storage=tmp_path / "storage",
        listener={"host": "127.0.0.1", "port": 0, "allowed_calling_aes": ["STORESCU", "ECHOSCU"],
                  "min_free_mb": 1},
        completion={"inactivity_s": 1.5, "check_every_s": 0.2},
        pipeline={"steps": ["select", "segment"], "segmentation": "labels",
                  "labels_dir": str(labels_dir)},
        status={"port": 0},
    )  # fmt: skip
    with Service(config) as running:
        yield running


def _echo(port: int, aet: str, called: str = "MSKLABEL") -> subprocess.CompletedProcess:
    return subprocess.run(
        ["echoscu", "-aet", aet, "-aec", called, "127.0.0.1", str(port)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_echo_answers_and_an_unknown_calling_ae_is_rejected(service: Service) -> None:
    assert _echo(service.listener.port, "ECHOSCU").returncode == 0
    refused = _echo(service.listener.port, "INTRUDER")
    assert refused.returncode != 0
    assert "Association Rejected" in refused.stdout + refused.stderr
    refused_store = storescu(service.listener.port, [], aet="INTRUDER")
    assert refused_store.returncode != 0


def test_an_association_called_to_another_ae_title_is_rejected(service: Service) -> None:
    refused = _echo(service.listener.port, "ECHOSCU", called="NOTMSKLABEL")
    assert refused.returncode != 0
    assert "Called AE Title Not Recognized" in refused.stdout + refused.stderr


def test_listening_on_all_interfaces_without_an_allow_list_warns(service: Service, caplog) -> None:
    config = service.config.listener
    everywhere = Listener(replace(config, host="0.0.0.0", allowed_calling_aes=()), None).start()
    everywhere.stop()
    assert "every calling AE is accepted from ANY NETWORK" in caplog.text


def test_an_undecodable_jpeg2000_instance_gets_a_failure_and_is_kept_aside(
    service: Service, make_study, tmp_path: Path
) -> None:
    source = make_study().files[0]
    good = jpeg2000_copy(source, tmp_path / "good.dcm")
    bad = jpeg2000_copy(source, tmp_path / "bad.dcm", corrupt=True)
    sent = storescu(service.listener.port, [good, bad], options=("-v", "-xv"))
    responses = [line for line in sent.stderr.splitlines() if "Received Store Response" in line]
    assert responses == [
        "I: Received Store Response (Success)",
        "I: Received Store Response (Error: CannotUnderstand)",
    ], sent.stderr
    (row,) = service.status.summary()["quarantined"]
    assert row["kind"] == "undecodable" and "do not decode" in row["reason"]
    assert (Path(row["folder"]) / "instance.dcm").is_file()
    assert service.status.summary()["instances"] == 1


@pytest.mark.slow
def test_eight_storescu_processes_at_once_store_every_instance(service, make_study) -> None:
    studies = [make_study() for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda s: storescu(service.listener.port, s.files), studies))
    assert [r.returncode for r in results] == [0] * 8, [r.stderr[-500:] for r in results]
    for study in studies:
        for path in study.files:
            sop = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
            stored = service.store.path_for(study.study_uid, study.series_uid, sop)
            assert stored.read_bytes()[128:132] == b"DICM"
            assert pydicom.dcmread(stored).SOPInstanceUID == sop
    assert service.status.summary()["instances"] == sum(len(s.files) for s in studies)


def _non_image(study_uid: str, folder: Path) -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = BasicTextSRStorage, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, generate_uid()
    ds.Modality, ds.PatientID = "SR", "PHANTOM"
    path = folder / "text-sr.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _altered(source: Path, folder: Path, name: str, **changes: object) -> Path:
    """A copy of ``source`` as a new instance of a new study, with ``changes``."""
    ds = pydicom.dcmread(source)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    for keyword, value in changes.items():
        if keyword == "TransferSyntaxUID":
            ds.file_meta.TransferSyntaxUID = value
            ds.PixelData = pydicom.encaps.encapsulate([bytes(64)])
            ds["PixelData"].VR = "OB"
        else:
            setattr(ds, keyword, value)
    path = folder / name
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.slow
def test_bad_input_is_kept_aside_with_its_reason_and_other_studies_go_through(
    service: Service, make_study, tmp_path: Path
) -> None:
    good, gapped = make_study(), make_study()
    bad = tmp_path / "bad"
    bad.mkdir()
    malformed = _altered(good.files[0], bad, "short.dcm", PixelData=bytes(100))
    unsupported = _altered(good.files[1], bad, "mpeg2.dcm", TransferSyntaxUID=MPEG2MPML)
    non_image = _non_image(generate_uid(), bad)
    del gapped.files[5]  # a missing slice in the first echo
    port = service.listener.port
    for path, options in ((malformed, ()), (unsupported, ("-xm",)), (non_image, ())):
        sent = storescu(port, [path], options=options)
        assert "Store SCU Failed" not in sent.stderr, sent.stderr  # sent, answered with an error
    assert storescu(port, gapped.files).returncode == 0
    assert storescu(port, good.files).returncode == 0

    def finished() -> list[dict] | None:
        jobs = service.status.summary()["jobs"]
        return jobs if len(jobs) == 5 and all(j["finished"] for j in jobs) else None

    jobs = {job["study_uid"]: job for job in wait_for(finished, 120, "five finished jobs")}
    aside = {row["kind"]: row for row in service.status.summary()["quarantined"]}
    assert set(aside) == {"malformed", "transfer-syntax", "non-image"}
    assert "Pixel Data holds 100 bytes" in aside["malformed"]["reason"]
    assert "MPEG2" in aside["transfer-syntax"]["reason"]
    assert "not an image storage class" in aside["non-image"]["reason"]
    for row in aside.values():
        folder = Path(row["folder"])
        assert (folder / "instance.dcm").is_file()
        assert row["reason"] in (folder / "reason.txt").read_text()
    assert jobs[good.study_uid]["state"] == "done"
    study_of = {
        "malformed": pydicom.dcmread(malformed).StudyInstanceUID,
        "transfer-syntax": pydicom.dcmread(unsupported).StudyInstanceUID,
        "non-image": pydicom.dcmread(non_image).StudyInstanceUID,
    }
    for kind, study_uid in study_of.items():
        job = jobs[study_uid]
        assert job["state"] == "failed", job
        assert "kept aside" in job["error"] and aside[kind]["reason"] in job["error"]
    assert jobs[gapped.study_uid]["state"] == "failed"
    assert "missing slice" in jobs[gapped.study_uid]["error"]
    assert gapped.series_uid in jobs[gapped.study_uid]["error"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """A CA, the listener's and a sender's certificate signed by it, and a stranger's."""
    folder = tmp_path_factory.mktemp("pki")
    ca = certificate(folder, "site-ca")
    return {
        "ca": ca,
        "listener": certificate(folder, "msklabel", issuer=ca),
        "sender": certificate(folder, "pacs", issuer=ca),
        "stranger": certificate(folder, "stranger"),
    }


def _tls_listener(tmp_path: Path, pki: dict, client_ca: bool) -> Listener:
    cert, key = pki["listener"]
    config = load_config(
        listener={"host": "127.0.0.1", "port": 0, "tls_certificate": str(cert),
                  "tls_key": str(key),
                  "tls_client_ca": str(pki["ca"][0]) if client_ca else ""},
    ).listener  # fmt: skip
    store = InstanceStore(tmp_path / "storage")
    status = StatusStore(tmp_path / "storage" / "status.sqlite3")
    return Listener(config, Intake(store, status, 0)).start()


def _tls(pki: dict, client: str | None) -> tuple[str, ...]:
    """dcmtk options: TLS trusting our CA, with the ``client`` certificate or anonymous."""
    trust = ("+cf", str(pki["ca"][0]))
    if client is None:
        return ("+tla", *trust)
    cert, key = pki[client]
    return ("+tls", str(key), str(cert), *trust)


def test_with_tls_required_plain_associations_are_refused(tmp_path, pki, make_study) -> None:
    listener = _tls_listener(tmp_path, pki, client_ca=False)
    try:
        port = listener.port
        study = make_study()
        sent = storescu(port, study.files[:2], options=_tls(pki, None))
        assert sent.returncode == 0, sent.stderr
        assert listener.intake.status.summary()["instances"] == 2
        echo = ["echoscu", "-aet", "ECHOSCU", "-aec", "MSKLABEL", "127.0.0.1", str(port)]
        over_tls = subprocess.run([*echo[:1], *_tls(pki, None), *echo[1:]], capture_output=True,
                                  text=True, timeout=60)  # fmt: skip
        assert over_tls.returncode == 0, over_tls.stderr
        assert subprocess.run(echo, capture_output=True, timeout=60).returncode != 0
        assert storescu(port, study.files[2:3]).returncode != 0
        assert listener.intake.status.summary()["instances"] == 2
    finally:
        listener.stop()


def test_with_a_client_ca_only_its_certificates_get_in(tmp_path, pki, make_study) -> None:
    listener = _tls_listener(tmp_path, pki, client_ca=True)
    try:
        files = make_study().files
        sent = storescu(listener.port, files[:1], options=_tls(pki, "sender"))
        assert sent.returncode == 0, sent.stderr
        for client in (None, "stranger"):
            refused = storescu(listener.port, files[1:2], options=_tls(pki, client))
            assert refused.returncode != 0, client
        assert listener.intake.status.summary()["instances"] == 1
    finally:
        listener.stop()
