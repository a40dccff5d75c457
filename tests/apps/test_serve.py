"""The server launcher and ``msklabel serve``."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from msklabel.cli import build_parser
from msklabel.dicomweb import DicomWebAuth
from msklabel.errors import InputError, OptionError
from msklabel.labeling.studies import (
    DICOMWEB_PASSWORD_SETTING,
    DICOMWEB_USER_SETTING,
    studies_login,
)
from msklabel.ports import free_port
from msklabel.security.auth import TOKEN_ENV
from msklabel.security.users import USERS_ENV, read_users, user_line
from msklabel.serve import DEFAULT_APP, InsecureServerError, MonaiLabelServer


def test_the_command_is_the_stock_server_with_our_app(tmp_path):
    server = MonaiLabelServer(tmp_path, port=8123, conf={"labels": "femur,tibia"})
    command = server.command()
    assert command[:4] == [sys.executable, "-m", "monailabel.main", "start_server"]
    assert command[command.index("--app") + 1] == str(DEFAULT_APP)
    assert command[command.index("--studies") + 1] == str(tmp_path)
    assert command[-3:] == ["--conf", "labels", "femur,tibia"]
    assert server.url == "http://127.0.0.1:8123"


def test_a_dicomweb_login_passes_to_the_server_and_needs_its_password(tmp_path, monkeypatch):
    """MONAI Label's own login settings reach the server (its DICOMweb proxy and our app's
    datastore read them); a user without the password fails here, not in the server's log."""
    url = "http://pacs:8042/dicom-web"
    login = {DICOMWEB_USER_SETTING: "radiology", DICOMWEB_PASSWORD_SETTING: "pw-9d2b"}
    for name in login:
        monkeypatch.delenv(name, raising=False)
    assert studies_login("") == DicomWebAuth()
    assert studies_login("radiology").secret(login) == "pw-9d2b"
    assert MonaiLabelServer(url, env=login).env.items() >= login.items()
    monkeypatch.setenv(DICOMWEB_PASSWORD_SETTING, "pw-9d2b")
    monkeypatch.setenv(DICOMWEB_USER_SETTING, "radiology")
    assert MonaiLabelServer(url).env.items() >= login.items()  # from this environment
    monkeypatch.delenv(DICOMWEB_PASSWORD_SETTING)
    with pytest.raises(OptionError) as raised:
        MonaiLabelServer(url)
    assert str(raised.value) == (
        f"--studies {url}: user 'radiology' with the password in "
        f"${DICOMWEB_PASSWORD_SETTING}: environment variable {DICOMWEB_PASSWORD_SETTING} is "
        "not set"
    )
    MonaiLabelServer(tmp_path)  # a local folder needs no login


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.7", "::", "knee-server.local"])
def test_a_server_beyond_loopback_needs_users_or_a_token(tmp_path, host, caplog, users_file):
    with pytest.raises(InsecureServerError, match=f"--host {host} .* give a users file .* token"):
        MonaiLabelServer(tmp_path, host=host)
    MonaiLabelServer(tmp_path, host=host, token="t" * 16)
    server = MonaiLabelServer(tmp_path, host=host, users_file=users_file)
    assert server.env[USERS_ENV] == str(users_file.resolve()) and TOKEN_ENV not in server.env
    assert not caplog.records
    MonaiLabelServer(tmp_path, host=host, insecure=True)
    assert "WITHOUT AUTHENTICATION" in caplog.text


@pytest.fixture(scope="module")
def users_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("users") / "users.txt"
    path.write_text(user_line("annie", "annotator", "annotator passphrase") + "\n")
    return path


def test_add_user_appends_a_hashed_line_to_a_private_file(tmp_path, monkeypatch):
    path = tmp_path / "users.txt"
    for name, role in [("annie", "annotator"), ("ada", "admin")]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"{name} passphrase\n"))
        args = build_parser().parse_args(
            ["serve", "--users-file", str(path), "--add-user", name, role]
        )
        assert args.handler(args) == 0
    users = read_users(path)
    assert users["annie"].role == "annotator" and users["ada"].verify("ada passphrase")
    assert "passphrase" not in path.read_text()
    assert path.stat().st_mode & 0o077 == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("another passphrase\n"))
    args = build_parser().parse_args(
        ["serve", "--users-file", str(path), "--add-user", "ada", "admin"]
    )
    with pytest.raises(InputError, match="user ada is already there"):
        args.handler(args)
    with pytest.raises(InputError, match="cannot read the users file"):
        MonaiLabelServer(tmp_path, users_file=tmp_path / "missing")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_needs_no_token(tmp_path, host, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "inherited-token-0123456789")
    server = MonaiLabelServer(tmp_path, host=host)
    assert TOKEN_ENV not in server.env, "only an explicit token turns auth on"


def test_the_token_goes_to_the_server_by_environment_only(tmp_path):
    server = MonaiLabelServer(tmp_path, token="secret-token-0123456789")
    assert server.env[TOKEN_ENV] == "secret-token-0123456789"
    assert "secret-token-0123456789" not in " ".join(server.command())
    assert server.command()[server.command().index("--uvicorn_app") + 1] == "msk_asgi:app"
    assert server.request("/info/").get_header("Authorization") == "Bearer secret-token-0123456789"


def test_a_folder_without_an_app_is_refused(tmp_path):
    with pytest.raises(InputError, match="not a MONAI Label app folder"):
        MonaiLabelServer(tmp_path, app=tmp_path)


def test_serve_options_are_parsed():
    args = build_parser().parse_args(
        ["serve", "--studies", "http://pacs/dicom-web", "--port", "9000", "-c", "labels", "femur"]
    )
    assert (args.host, args.token_file, args.insecure_no_auth) == ("127.0.0.1", None, False)
    assert (args.studies, args.port, args.conf) == (
        "http://pacs/dicom-web",
        9000,
        [["labels", "femur"]],
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"labels": "femur,femur"}, "-c labels: a label is named twice"),
        ({"device": "cuda:99"}, "-c device: device 'cuda:99'"),
    ],
)
def test_a_bad_option_stops_the_server_with_a_clear_message(tmp_path, conf, message):
    server = MonaiLabelServer(tmp_path, conf=conf)
    with pytest.raises(RuntimeError, match=message):
        server.start()
    assert server.log_text() == "", "the log is removed with the stopped server"


@pytest.mark.slow
def test_msklabel_serve_runs_until_terminated_and_leaves_no_server(studies, tmp_path):
    port, output = free_port(), tmp_path / "serve.log"
    msklabel = Path(sys.executable).with_name("msklabel")
    command = [msklabel, "serve", "--studies", studies.folder, "--port", str(port)]
    with output.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while f"at http://127.0.0.1:{port}" not in output.read_text():
            assert process.poll() is None and time.monotonic() < deadline, output.read_text()
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/info/", timeout=30) as reply:
            assert reply.status == 200
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/info/", timeout=5)
