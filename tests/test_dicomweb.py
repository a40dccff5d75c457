"""DICOMweb logins: the settings, and a bearer token sent to a server that checks it (Orthanc,
which the HTTP basic tests use, has no bearer tokens without its authorization plugin)."""

import http.server
import threading

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
    """A QIDO-RS stand-in: no series at all, for requests with the bearer token only."""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

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
