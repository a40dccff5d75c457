import asyncio
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from msklabel.errors import InputError
from msklabel.security.auth import TOKEN_ENV, TokenAuth, annotator_may, read_token
from msklabel.security.users import read_users, user_line


def test_the_token_file_wins_over_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment-0123")
    (tmp_path / "token").write_text("from-the-file-0123456789\nignored\n")
    assert read_token(tmp_path / "token") == "from-the-file-0123456789"
    assert read_token() == "from-the-environment-0123"
    monkeypatch.delenv(TOKEN_ENV)
    assert read_token() is None


@pytest.mark.parametrize("content", ["", "short\n"])
def test_a_short_token_is_refused_naming_the_file(tmp_path: Path, content: str) -> None:
    (tmp_path / "token").write_text(content)
    with pytest.raises(InputError, match=r"token: the token must have at least 16 characters"):
        read_token(tmp_path / "token")


def test_a_missing_token_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing: cannot read the token file"):
        read_token(tmp_path / "missing")


ANNOTATOR_ALLOWED = [
    ("GET", "/info/"), ("GET", "/datastore/"), ("GET", "/datastore/image"),
    ("HEAD", "/datastore/image"), ("GET", "/datastore/label"), ("PUT", "/datastore/label"),
    ("POST", "/infer/litemedsam_automatic"), ("POST", "/activelearning/random"),
    ("GET", "/train/"), ("PUT", "/session/"), ("DELETE", "/session/abc"),
    ("GET", "/ohif/index.html"), ("GET", "/proxy/dicom/qido/studies"),
]  # fmt: skip
ADMIN_ONLY = [
    ("POST", "/train/litemedsam"), ("POST", "/train/"), ("DELETE", "/train/"),
    ("PUT", "/datastore/image"), ("PUT", "/datastore/"), ("DELETE", "/datastore/image"),
    ("DELETE", "/datastore/label"), ("GET", "/datastore/dataset"), ("PUT", "/datastore/image/info"),
    ("GET", "/model/litemedsam"), ("PUT", "/model/litemedsam"), ("DELETE", "/model/litemedsam"),
    ("POST", "/batch/infer/litemedsam_automatic"), ("DELETE", "/batch/infer"),
    ("POST", "/proxy/dicom/wado/studies"),
    ("POST", "/scoring/dice"), ("GET", "/logs/"), ("POST", "/proxy/dicom/stow/studies"),
    ("POST", "/infer/../train/litemedsam"), ("POST", "/infer/x/../../train/y"),
    ("GET", "/datastore//dataset"), ("POST", "/activelearning/a/b"), ("GET", "/unknown"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path"), ANNOTATOR_ALLOWED)
def test_an_annotator_may_label(method: str, path: str) -> None:
    assert annotator_may(method, path)


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY)
def test_an_annotator_may_not_train_upload_delete_or_download_the_dataset(method, path) -> None:
    assert not annotator_may(method, path)


TOKEN = "shared-token-0123456789"


@pytest.fixture(scope="module")
def users(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("users") / "users"
    path.write_text(
        user_line("ann", "annotator", "annotator password") + "\n"
        + user_line("adm", "admin", "admin password 123") + "\n"
    )  # fmt: skip
    return read_users(path)


@pytest.fixture(scope="module")
def client(users) -> TestClient:
    """The middleware in front of an app that answers every request with 200."""
    app = Starlette(routes=[Route("/{path:path}", lambda r: PlainTextResponse("reached"),
                                  methods=["GET", "HEAD", "POST", "PUT", "DELETE"])])  # fmt: skip
    return TestClient(TokenAuth(app, TOKEN, users))


def _login(client: TestClient, username: str, password: str):
    return client.post("/auth/token", data={"username": username, "password": password,
                                            "grant_type": "password"})  # fmt: skip


def _bearer(reply) -> dict[str, str]:
    body = reply.json()
    assert body["token_type"] == "bearer"
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_users_log_in_with_their_password_and_get_their_role(client, caplog) -> None:
    assert client.get("/auth/").json()["enabled"] is True
    annotator = _bearer(_login(client, "ann", "annotator password"))
    admin = _bearer(_login(client, "adm", "admin password 123"))
    assert "annotator password" not in annotator["Authorization"]
    assert client.get("/auth/token/valid", headers=annotator).status_code == 200
    assert client.post("/infer/m", headers=annotator).text == "reached"
    assert client.put("/datastore/label", headers=annotator).text == "reached"
    for method, path in [("POST", "/train/m"), ("DELETE", "/datastore/image"),
                         ("GET", "/datastore/dataset"), ("PUT", "/datastore/image")]:  # fmt: skip
        refused = client.request(method, path, headers=annotator)
        assert refused.status_code == 403, (method, path)
        assert refused.json()["detail"] == f"the annotator role may not {method} {path}"
        assert client.request(method, path, headers=admin).text == "reached"
    assert "annotator password" not in caplog.text and "admin password" not in caplog.text


@pytest.mark.parametrize(
    ("username", "password"),
    [("ann", "admin password 123"), ("nobody", "annotator password"), ("ann", ""),
     ("ann", TOKEN), ("adm", "x" * 5000)],
)  # fmt: skip
def test_a_wrong_login_gets_401(client, username: str, password: str) -> None:
    reply = _login(client, username, password)
    assert reply.status_code == 401 and "access_token" not in reply.text


def test_the_shared_token_logs_in_as_admin_with_any_other_name(client) -> None:
    admin = _bearer(_login(client, "whoever", TOKEN))
    assert client.post("/train/m", headers=admin).text == "reached"
    assert client.post("/train/m", headers={"Authorization": f"Bearer {TOKEN}"}).text == "reached"


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer not-a-session", "Basic YW5uOmFubm90YXRvcg==", TOKEN]
)
def test_without_a_valid_token_every_call_gets_401(client, header) -> None:
    headers = {"Authorization": header} if header else {}
    for method, path in [("GET", "/info/"), ("POST", "/infer/m"), ("GET", "/auth/token/valid")]:
        reply = client.request(method, path, headers=headers)
        assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"


def test_a_browser_opening_the_viewer_is_sent_to_the_login_page_and_back(users) -> None:
    app = Starlette(routes=[Route("/{path:path}", lambda r: PlainTextResponse("reached"),
                                  methods=["GET", "HEAD", "POST", "PUT", "DELETE"])])  # fmt: skip
    browser = TestClient(TokenAuth(app, TOKEN, users), follow_redirects=False)
    opened = browser.get("/ohif/viewer?StudyInstanceUIDs=1.2.3")
    assert opened.status_code == 303
    assert (
        opened.headers["location"]
        == "/auth/login?next=%2Fohif%2Fviewer%3FStudyInstanceUIDs%3D1.2.3"
    )
    assert browser.get("/info/").status_code == 401  # API calls are not redirected
    page = browser.get(opened.headers["location"])
    assert page.status_code == 200 and 'name="password"' in page.text
    assert 'value="/ohif/viewer?StudyInstanceUIDs=1.2.3"' in page.text
    form = {"username": "ann", "password": "annotator password",
            "next": "/ohif/viewer?StudyInstanceUIDs=1.2.3"}  # fmt: skip
    wrong = browser.post("/auth/login", data={**form, "password": "nope"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    logged = browser.post("/auth/login", data=form)
    assert logged.status_code == 303
    assert logged.headers["location"] == "/ohif/viewer?StudyInstanceUIDs=1.2.3"
    cookie = logged.headers["set-cookie"]
    assert cookie.startswith("msklabel_session=") and "annotator password" not in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    # The cookie now stands for the annotator's bearer token, with the annotator's role.
    assert browser.get("/ohif/viewer").text == "reached"
    assert browser.put("/datastore/label").text == "reached"
    assert browser.post("/train/m").status_code == 403
    # Another site's page cannot use it (SameSite aside): Origin or Referer of another host.
    for header in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/x"}):
        assert browser.put("/datastore/label", headers=header).status_code == 403
        assert browser.get("/ohif/viewer", headers=header).text == "reached"  # reads are safe
    assert (
        browser.put("/datastore/label", headers={"Origin": "http://testserver"}).text == "reached"
    )


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example", "/\\evil.example", "ohif", "/a\r\nb"]
)
def test_the_login_never_redirects_off_the_server(client, target: str) -> None:
    form = {"username": "adm", "password": "admin password 123", "next": target}
    logged = client.post("/auth/login", data=form, follow_redirects=False)
    assert logged.status_code == 303 and logged.headers["location"] == "/ohif/"
    page = client.get("/auth/login", params={"next": '"><script>alert(1)</script>'})
    assert "<script>alert" not in page.text and 'value="/ohif/"' in page.text


def test_a_cross_origin_login_form_is_refused(client) -> None:
    form = {"username": "adm", "password": "admin password 123"}
    refused = client.post("/auth/login", data=form, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and "set-cookie" not in refused.headers


def test_the_app_never_sees_the_credentials_nor_dot_segments(users) -> None:
    """The stock DICOMweb proxy forwards a POST's headers to the PACS: the token and the
    session cookie stop at the check; a path with '..' is refused for every role."""

    def headers(request):
        return PlainTextResponse(repr(sorted(request.headers.items())))

    app = Starlette(routes=[Route("/{path:path}", headers, methods=["GET", "POST"])])
    client = TestClient(TokenAuth(app, TOKEN, users), follow_redirects=False)
    seen = client.post(
        "/proxy/dicom/wado/studies",
        headers={"Authorization": f"Bearer {TOKEN}", "Cookie": "msklabel_session=x; other=1"},
    ).text
    assert "authorization" not in seen and TOKEN not in seen and "msklabel_session" not in seen
    assert "('cookie', 'other=1')" in seen
    client.post("/auth/login", data={"username": "adm", "password": "admin password 123"})
    assert "msklabel_session" not in client.get("/ohif/").text
    # As a raw HTTP request carries them (HTTP clients would remove the dot segments).
    for path in ["/proxy/dicom/wado/../../tools/execute-script", "/ohif/..", "/info/..\\x"]:
        assert _raw_status(TokenAuth(app, TOKEN, users), "GET", path, TOKEN) == 400, path


def _raw_status(app, method: str, path: str, token: str) -> int:
    """The status ``app`` answers to a request for ``path`` exactly as given."""
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": [(b"authorization", f"Bearer {token}".encode())],
             "scheme": "http", "server": ("testserver", 80), "root_path": "",
             "http_version": "1.1", "client": ("127.0.0.1", 1)}  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"]
