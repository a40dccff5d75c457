"""Helpers for tests and benchmarks of the routing: a configuration file, ``msklabel listen``
in a subprocess, dcmtk's ``storescu``, JPEG 2000 copies of an instance, TLS certificates,
and what a real Orthanc holds for a study."""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, generate_uid

from msklabel.testing.orthanc import OrthancServer

CONSOLE = Path(sys.executable).with_name("msklabel")


def write_config(path: Path, storage: Path, port: int, **sections: dict) -> Path:
    """A JSON configuration: storage, the listener on ``port``, and ``sections``."""
    data: dict = {
        "storage": str(storage),
        "listener": {"host": "127.0.0.1", "port": port, "min_free_mb": 1},
        "completion": {"inactivity_s": 2.0, "check_every_s": 0.3},
        "queue": {"retry_delay_s": 1.0, "lease_s": 5.0},
        "status": {"port": 0},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values} if isinstance(values, dict) else values
    path.write_text(json.dumps(data))
    return path


class ListenerProcess:
    """``msklabel listen`` in a subprocess (only this one is ever killed)."""

    def __init__(self, config: Path, role: str = "all", log: Path | None = None) -> None:
        self.config, self.role = config, role
        self.log = log or config.with_suffix(f".{role}.log")
        self.process: subprocess.Popen | None = None

    def start(self) -> ListenerProcess:
        """Start and wait until it listens (or, for a worker, runs)."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [CONSOLE, "listen", "--config", str(self.config), "--role", self.role],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        marker = "listening as" if self.role != "worker" else "role: worker"
        deadline = time.monotonic() + 60
        while marker not in self.log.read_text()[offset:]:
            assert self.process.poll() is None, self.log.read_text()[offset:][-3000:]
            assert time.monotonic() < deadline, "the listener did not start"
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL, then reap (a zombie would still look alive)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def storescu(
    port: int, files: list[Path], aet: str = "STORESCU", options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """dcmtk's storescu sending ``files`` to the listener (AE MSKLABEL) on ``port``."""
    return subprocess.run(
        ["storescu", *options, "-aet", aet, "-aec", "MSKLABEL", "127.0.0.1", str(port),
         *map(str, files)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll ``condition`` until it is truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def orthanc_post(orthanc: OrthancServer, path: str, body: bytes | dict) -> Any:
    """POST to Orthanc's REST API; the decoded JSON answer."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    with urllib.request.urlopen(orthanc.request(path, data), timeout=600) as response:
        return json.loads(response.read())


def orthanc_file(orthanc: OrthancServer, instance: str, path: Path) -> Path:
    """Save the DICOM file of Orthanc's ``instance`` (its Orthanc id) to ``path``."""
    with urllib.request.urlopen(orthanc.request(f"/instances/{instance}/file"), timeout=60) as file:
        path.write_bytes(file.read())
    return path


def orthanc_series(orthanc: OrthancServer, study_uid: str) -> Any:
    """Every series Orthanc holds for ``study_uid`` (MainDicomTags and instance ids)."""
    found = orthanc_post(orthanc, "/tools/lookup", study_uid.encode())
    studies = [item["ID"] for item in found if item["Type"] == "Study"]
    if not studies:
        return []
    return orthanc.get(f"/studies/{studies[0]}/series")


def series_counts(orthanc: OrthancServer, study_uid: str) -> dict[str, list[int]]:
    """Per series description (or modality when there is none) of the study in Orthanc, the
    instance count of each such series: ``{"msklabel report": [1], "SEG": [1], ...}``."""
    counts: dict[str, list[int]] = {}
    for series in orthanc_series(orthanc, study_uid):
        tags = series["MainDicomTags"]
        key = (
            tags.get("Modality")
            if tags.get("Modality") in ("SEG", "SR")
            else (tags.get("SeriesDescription") or tags.get("Modality", ""))
        )
        counts.setdefault(key, []).append(len(series["Instances"]))
    return counts


def jpeg2000_copy(source: Path, path: Path, corrupt: bool = False) -> Path:
    """``source`` (one 16-bit frame) as a new JPEG 2000 Lossless instance of its series at
    ``path``; with ``corrupt``, the codestream keeps its valid header (SOC, SIZ, COD, QCD)
    and the rest is garbage."""
    ds = pydicom.dcmread(source)
    buffer = io.BytesIO()
    Image.fromarray(ds.pixel_array.astype("uint16")).save(
        buffer, format="JPEG2000", no_jp2=True, irreversible=False
    )
    codestream = buffer.getvalue()
    if corrupt:
        header = codestream[: codestream.index(b"\xff\x90")]  # up to the first tile (SOT)
        codestream = header + bytes(range(256)) * 8
    ds.PixelData = encapsulate([codestream])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(path, enforce_file_format=True)
    return path


def certificate(
    folder: Path, name: str, issuer: tuple[Path, Path] | None = None
) -> tuple[Path, Path]:
    """A PEM certificate for ``name`` (also valid for 127.0.0.1) and its key, in ``folder``:
    self-signed (a CA), or signed by ``issuer`` (its certificate and key files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer_name, signer_key = subject, key
    if issuer is not None:
        signer_name = x509.load_pem_x509_certificate(issuer[0].read_bytes()).subject
        signer_key = serialization.load_pem_private_key(issuer[1].read_bytes(), None)
    now = dt.datetime.now(dt.UTC)
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(signer_key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
