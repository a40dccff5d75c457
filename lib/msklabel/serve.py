"""Start the stock MONAI Label server with the msklabel app as a child process.

The server is the unchanged ``monailabel start_server`` command, so 3D Slicer's MONAILabel
plugin and the OHIF bundled with monailabel talk to it as to any MONAI Label app. This module
only launches and stops that process; it never imports monailabel. With a token, the web
app or a users file (roles annotator and admin), the web app is wrapped in
:class:`msklabel.security.auth.TokenAuth` (``apps/msk/msk_asgi.py``); a server reachable
beyond loopback requires one of them unless ``insecure`` says otherwise.

>>> with MonaiLabelServer("studies/") as server:  # doctest: +SKIP
...     print(server.url)
"""

from __future__ import annotations

import ipaddress
import logging
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from msklabel.dicomweb import MissingSecret
from msklabel.errors import InputError, MsklabelError, OptionError
from msklabel.labeling.studies import DICOMWEB_USER_SETTING, studies_login
from msklabel.ports import free_port
from msklabel.security.auth import TOKEN_ENV
from msklabel.security.users import USERS_ENV, read_users

logger = logging.getLogger(__name__)

#: The app in this repository (``apps/msk``), used when no other app folder is given.
DEFAULT_APP = Path(__file__).resolve().parents[2] / "apps" / "msk"
#: The web app the server runs: MONAI Label's own, behind the token check (in DEFAULT_APP).
ASGI_APP = "msk_asgi:app"


class InsecureServerError(MsklabelError, ValueError):
    """A server reachable beyond loopback was asked for without a token."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MonaiLabelServer:
    """One ``monailabel start_server`` process serving ``app`` on ``studies``.

    ``studies`` is a local folder or a DICOMweb URL (``http://host:port/dicom-web``);
    ``conf`` holds the app's ``-c key value`` options. The server listens on ``host`` at
    ``port`` (a free one when None); its output goes to a log (:meth:`log_text`), or to
    this process's output with ``echo``; ``env`` adds environment variables (MONAI Label's
    ``MONAI_LABEL_*`` settings, the DICOMweb login of ``studies`` among them: a password
    missing from that environment is an :class:`OptionError` here, at once). With ``token``
    (the shared admin token) or ``users_file`` (users with roles,
    :mod:`msklabel.security.users`) every request but the login must present a bearer
    token; a ``host`` other than loopback requires one of them, or ``insecure=True`` (logged
    as a warning). Used as a context manager it starts on entry and stops on exit;
    :meth:`stop` ends only the process it started.
    """

    def __init__(
        self,
        studies: str | os.PathLike[str],
        port: int | None = None,
        conf: Mapping[str, str] | None = None,
        app: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        echo: bool = False,
        env: Mapping[str, str] | None = None,
        token: str | None = None,
        insecure: bool = False,
        users_file: str | os.PathLike[str] | None = None,
        tls: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
    ) -> None:
        if users_file is not None:
            read_users(users_file)  # a bad file is named here, not in the server's log
        if not is_loopback(host) and token is None and users_file is None:
            if not insecure:
                raise InsecureServerError(
                    f"--host {host} is reachable beyond this machine: give a users file "
                    f"(--users-file) or a token (${TOKEN_ENV} or --token-file), or pass "
                    "--insecure-no-auth"
                )
            logger.warning(
                "SERVING WITHOUT AUTHENTICATION ON %s: anyone who reaches it can read, "
                "overwrite and delete images and labels and start training",
                host,
            )
        self.studies = os.fspath(studies)
        self.app = Path(app) if app is not None else DEFAULT_APP
        if not (self.app / "main.py").is_file():
            raise InputError(self.app, "not a MONAI Label app folder (no main.py)")
        self.port = port or free_port()
        self.host = host
        self.conf = dict(conf or {})
        self.echo = echo
        self.token = token
        self.users_file = users_file
        self.tls = None
        if tls is not None:
            self.tls = tuple(Path(path).resolve() for path in tls)
            for path, what in zip(self.tls, ("certificate", "key"), strict=True):
                if not path.is_file():
                    raise InputError(path, f"--tls {what}: no such file")
        self.env = {**os.environ, **(env or {})}
        self.env.pop(TOKEN_ENV, None)
        self.env.pop(USERS_ENV, None)
        if token is not None:
            self.env[TOKEN_ENV] = token
        if users_file is not None:
            self.env[USERS_ENV] = str(Path(users_file).resolve())
        if self.studies.startswith(("http://", "https://")):
            login = studies_login(self.env.get(DICOMWEB_USER_SETTING, ""))
            try:
                login.secret(self.env)
            except MissingSecret as error:
                raise OptionError(f"--studies {self.studies}: {login}: {error}") from None
        # Where uvicorn finds ASGI_APP (the server adds the app folder only for the app itself).
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(DEFAULT_APP), self.env.get("PYTHONPATH")) if p
        )
        self._process: subprocess.Popen | None = None
        self._log: tempfile._TemporaryFileWrapper | None = None

    @property
    def url(self) -> str:
        """The server's root URL."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The ``monailabel start_server`` command line this server runs."""
        command = [
            sys.executable, "-m", "monailabel.main", "start_server",
            "--app", str(self.app), "--studies", self.studies,
            "--host", self.host, "--port", str(self.port), "--uvicorn_app", ASGI_APP,
        ]  # fmt: skip
        if self.tls:
            command += ["--ssl_certfile", str(self.tls[0]), "--ssl_keyfile", str(self.tls[1])]
        for key, value in self.conf.items():
            command += ["--conf", key, str(value)]
        return command

    def start(self, timeout: float = 300.0) -> MonaiLabelServer:
        """Start the server and wait until ``/info/`` answers (or raise with its log)."""
        if not is_loopback(self.host) and not self.tls:
            logger.warning(
                "serving plain HTTP on %s: passwords, tokens and images cross the network "
                "unencrypted; give --tls CERT KEY or put an HTTPS reverse proxy in front",
                self.host,
            )
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop)
            prefix="msklabel-serve-", suffix=".log", delete=False
        )
        self._process = subprocess.Popen(
            self.command(),
            stdout=None if self.echo else self._log,
            stderr=None if self.echo else subprocess.STDOUT,
            start_new_session=True,
            env=self.env,
        )
        # Over TLS the probe checks nothing but that our own child answers (and sends no token).
        context = None
        if self.tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = self.log_text()
                self.stop()
                raise RuntimeError(f"the MONAI Label server exited at start:\n{log[-4000:]}")
            try:
                with urllib.request.urlopen(self._probe(), timeout=5, context=context):
                    return self
            except urllib.error.HTTPError as error:
                # Auth on: uvicorn answers (401) only once the app has started.
                if error.code == 401:
                    return self
                time.sleep(0.5)
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        log = self.log_text()
        self.stop()
        raise TimeoutError(
            f"the MONAI Label server did not answer in {timeout:g} s:\n{log[-4000:]}"
        )

    def _probe(self) -> urllib.request.Request:
        """Is the app up: ``/info/`` (with the token, over plain HTTP only)."""
        if self.tls:
            return urllib.request.Request(f"{self.url}/info/")
        return self.request("/info/")

    def request(self, path: str) -> urllib.request.Request:
        """A request for ``path`` on this server, with the token when there is one."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return urllib.request.Request(f"{self.url}{path}", headers=headers)

    def wait(self) -> int:
        """Block until the server exits (e.g. on Ctrl-C); returns its exit status."""
        assert self._process is not None, "the server is not started"
        return self._process.wait()

    def stop(self) -> None:
        """Stop the server process (and the training or scoring jobs it started)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # The server runs in its own session: its background jobs go with it.
            os.killpg(process.pid, 15)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None

    def log_text(self) -> str:
        """What the server printed so far."""
        if self._log is None:
            return ""
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")

    def __enter__(self) -> MonaiLabelServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
