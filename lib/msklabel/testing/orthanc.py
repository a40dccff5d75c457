"""A real Orthanc PACS started in a temporary folder, for tests and benchmarks.

It listens on loopback-reachable high ports (HTTP with the DICOMweb plugin, and DICOM),
keeps its storage in its own folder, and is stopped (and only it) by :meth:`stop`.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from msklabel.ports import free_port

ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


class OrthancServer:
    """One Orthanc process with its own configuration, storage and ports; ``lua_scripts`` are
    loaded as Orthanc's ``LuaScripts`` (e.g. the routing script of ``plugins/orthanc``).
    With ``users`` (name: password) every HTTP request, DICOMweb included, needs HTTP basic
    authentication as one of them (:meth:`get` logs in as the first)."""

    def __init__(
        self,
        aet: str = "ORTHANC",
        modalities: dict[str, tuple] | None = None,
        lua_scripts: Sequence[Path] = (),
        users: Mapping[str, str] | None = None,
    ) -> None:
        if shutil.which(ORTHANC) is None:
            raise FileNotFoundError(f"{ORTHANC} is not installed")
        self.aet = aet
        self.http_port = free_port()
        self.dicom_port = free_port()
        self._modalities = modalities or {}
        self._lua_scripts = [str(Path(script).resolve()) for script in lua_scripts]
        self._users = dict(users or {})
        self._folder: tempfile.TemporaryDirectory | None = None
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Root of the REST API."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """Root of the DICOMweb (QIDO/WADO/STOW) API."""
        return f"{self.url}/dicom-web"

    def start(self, timeout: float = 30.0) -> OrthancServer:
        self._folder = tempfile.TemporaryDirectory(prefix="msklabel-orthanc-")
        root = Path(self._folder.name)
        config = {
            "Name": "msklabel-test",
            "StorageDirectory": str(root / "storage"),
            "IndexDirectory": str(root / "storage"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(self._users),
            "RegisteredUsers": self._users,
            "DicomCheckCalledAet": False,
            "DicomModalities": self._modalities,
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "StableAge": 1,
            "LuaScripts": self._lua_scripts,
        }
        config_path = root / "orthanc.json"
        config_path.write_text(json.dumps(config))
        self._log = open(root / "orthanc.log", "w")  # noqa: SIM115 (closed in stop)
        self._process = subprocess.Popen(
            [ORTHANC, str(config_path)], stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start: {self.log_text()[-2000:]}")
            try:
                self.get("/system")
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise TimeoutError("Orthanc did not answer in time")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._folder is not None:
            self._log.close()
            self._folder.cleanup()
            self._folder = None

    def log_text(self) -> str:
        assert self._folder is not None
        return (Path(self._folder.name) / "orthanc.log").read_text(errors="replace")

    def request(self, path: str, data: bytes | None = None) -> urllib.request.Request:
        """A request of the REST resource ``path`` (a POST of ``data`` if given), logged in as
        the first user if there are users."""
        request = urllib.request.Request(self.url + path, data=data)
        for user, password in list(self._users.items())[:1]:
            login = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {login}")
        return request

    def get(self, path: str) -> object:
        """GET a REST resource and decode its JSON."""
        with urllib.request.urlopen(self.request(path), timeout=10) as response:
            return json.loads(response.read())

    def instance_uids(self) -> set[str]:
        """SOP Instance UIDs of every instance stored."""
        found = set()
        for identifier in self.get("/instances"):  # type: ignore[union-attr]
            tags = self.get(f"/instances/{identifier}/simplified-tags")
            found.add(tags["SOPInstanceUID"])  # type: ignore[index]
        return found

    def __enter__(self) -> OrthancServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
