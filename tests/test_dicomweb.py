"""DICOMweb logins: the settings, and a bearer token sent to a server that checks it (Orthanc,
which the HTTP basic tests use, has no bearer tokens without its authorization plugin)."""

import http.server
import threading
from typing import ClassVar

import pytest

from msklabel.dicomweb import (
    AuthSettingError,
    DicomWebAuth,
    MissingSecret,
    auth_from_table,
    dicomweb_client,
)
from msklabel.errors import InputError
from msklabel.evaluation.datasets import DicomWebDataset

TOKEN = "tok-8f2c1e9a7b"


def test_the_session_logs_in_with_the_secret_from_the_environment(monkeypatch):
    monkeypatch.setenv("PACS_PASSWORD", "pw-1")
    monkeypatch.setenv("PACS_TOKEN", TOKEN)
    basic = DicomWebAuth(user="radiology", password_env="PACS_PASSWORD").session()
    assert basic.auth == ("radiology", "pw-1") and "Authorization" not in basic.headers
    bearer = DicomWebAuth(token_env="PACS_TOKEN").session()
    assert bearer.headers["Authorization"] == f"Bearer {TOKEN}" and bearer.auth is None
    none = dicomweb_client("http://pacs/dicom-web")._session
    assert none.auth is None and "Authorization" not in none.headers
    assert TOKEN not in repr(DicomWebAuth(token_env="PACS_TOKEN"))
    monkeypatch.setenv("PACS_TOKEN", "")
    with pytest.raises(MissingSecret, match="environment variable PACS_TOKEN is not set"):
        DicomWebAuth(token_env="PACS_TOKEN").session()


@pytest.mark.parametrize(
    ("settings", "key", "reason"),
    [
        ({"user": "a", "password_env": "P", "token_env": "T"}, "token_env", "not both"),
        ({"user": "a"}, "password_env", "missing"),
        ({"password_env": "P"}, "user", "missing"),
        ({"token_env": "MY TOKEN"}, "token_env", "not an environment variable name"),
    ],
)
def test_login_settings_that_do_not_fit(settings, key, reason):
    with pytest.raises(AuthSettingError, match=reason) as raised:
        DicomWebAuth(**settings)
    assert raised.value.key == key


def test_a_configuration_table_gives_the_login_and_never_its_secret():
    """The one reader of the login keys of every configuration file (evaluation plans,
    listener destinations); a value that may be a secret written by mistake is not echoed."""
    table = {"url": "http://pacs/dicom-web", "user": "radiology", "password_env": "PACS_PW"}
    assert auth_from_table(table) == DicomWebAuth(user="radiology", password_env="PACS_PW")
    assert auth_from_table({"token_env": "T"}) == DicomWebAuth(token_env="T")
    assert auth_from_table({"url": "http://pacs"}) == DicomWebAuth()
    for table, key, reason in (
        ({"user": "a", "password": "s3cret-1"}, "password", "never write a secret"),
        ({"token": "s3cret-1"}, "token", "name the environment variable that holds it with "
                                         "token_env"),
        ({"token_env": "s3cret-1!"}, "token_env", "not an environment variable name"),
        ({"user": "a", "password_env": 7}, "password_env", "must be text, got int"),
    ):  # fmt: skip
        with pytest.raises(AuthSettingError, match=reason) as raised:
            auth_from_table(table)
        assert raised.value.key == key and "s3cret" not in str(raised.value)


class _BearerServer(http.server.BaseHTTPRequestHandler):
    """A QIDO-RS and STOW-RS stand-in, for requests with the bearer token only: no series at
    all, and every STOW-RS body kept in :attr:`stored`."""

    stored: ClassVar[list[bytes]] = []

    def do_GET(self) -> None:
        if self._refused():
            return
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self._refused():
            return
        self.stored.append(body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _refused(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return False
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bearer_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BearerServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/dicom-web"
    server.shutdown()
    server.server_close()


def test_a_bearer_token_reaches_the_server(bearer_server, monkeypatch, caplog):
    caplog.set_level("DEBUG")
    dataset = DicomWebDataset(name="pacs", url=bearer_server, auth=DicomWebAuth(token_env="TOK"))
    monkeypatch.setenv("TOK", TOKEN)
    with pytest.raises(InputError, match="dataset 'pacs': no study with a DICOM-SEG"):
        dataset.case_names()  # the server answered the search: the token was accepted
    monkeypatch.setenv("TOK", "wrong")
    refused = r"dataset 'pacs': the server refused the login \(the bearer token in \$TOK; HTTP 401"
    with pytest.raises(InputError, match=refused) as raised:
        dataset.case_names()
    monkeypatch.delenv("TOK")
    with pytest.raises(InputError, match="dataset 'pacs': environment variable TOK is not set"):
        dataset.case_names()
    assert "wrong" not in str(raised.value)
    assert caplog.records and TOKEN not in caplog.text


def test_a_stow_rs_destination_sends_its_bearer_token(bearer_server, monkeypatch):
    """The listener's STOW-RS destinations log in as the evaluation datasets do."""
    from pydicom import examples

    from msklabel.pacs.config import Destination
    from msklabel.pacs.send import SendError, send_files

    _BearerServer.stored.clear()
    destination = Destination("dicomweb", url=bearer_server, auth=DicomWebAuth(token_env="TOK"))
    monkeypatch.setenv("TOK", "wrong")
    with pytest.raises(SendError, match=r"refused the login \(the bearer token in \$TOK; HTTP 401"):
        send_files(destination, [examples.get_path("mr")])
    assert _BearerServer.stored == []
    monkeypatch.setenv("TOK", TOKEN)
    send_files(destination, [examples.get_path("mr")])
    (body,) = _BearerServer.stored
    assert str(examples.mr.SOPInstanceUID).encode() in body
