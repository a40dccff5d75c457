"""Hostile requests to the real labeling server (``msklabel serve``, with a shared token and a
users file): no path from a request leaves the studies folder, nothing is answered without a
token, and an annotator can neither train nor delete."""

from __future__ import annotations

import hashlib
from http.client import HTTPConnection
from pathlib import Path

import numpy as np
import pytest
import requests
from monailabel.client import MONAILabelClient
from monailabel.client.client import MONAILabelClientException

from msklabel.io.nifti import write_nifti
from msklabel.security.users import user_line
from msklabel.serve import MonaiLabelServer
from msklabel.testing.listener import certificate
from msklabel.volume import Volume

pytestmark = pytest.mark.slow

IMAGE = "knee"
TOKEN = "test-token-0123456789abcdef"
#: Users of the users file: name -> (role, password).
USERS = {"annie": ("annotator", "annotator passphrase"), "ada": ("admin", "admin passphrase 1")}
#: Ids that would reach a file outside the studies folder (or a folder above the labels).
TRAVERSALS = ["../victim", "../../victim", "../outside/victim", "/tmp/victim", "..", "sub/../x"]
TAGS = ["../..", "../../outside", "/tmp", "..", "."]
#: What the datastore itself rewrites.
INDEX = {"datastore_v2.json", ".lock"}


def _snapshot(root: Path) -> dict[str, str]:
    """Every folder and file under ``root`` with its SHA-256 (the datastore's index aside)."""
    return {
        str(path.relative_to(root)): (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        )
        for path in sorted(root.rglob("*"))
        if path.name not in INDEX
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """``studies/knee.nii.gz`` and, around it, files a hostile request would reach."""
    root = tmp_path_factory.mktemp("site")
    (root / "studies").mkdir()
    (root / "outside").mkdir()
    volume = Volume(np.arange(4 * 8 * 8, dtype=np.int16).reshape(4, 8, 8), np.eye(4))
    write_nifti(volume, root / "studies" / f"{IMAGE}.nii.gz")
    for path in (root / "victim.nii.gz", root / "outside" / "victim.nii.gz"):
        path.write_bytes(b"do not touch")
    return root


@pytest.fixture(scope="module")
def server(site, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("model")
    conf = {"model_dir": str(model_dir)}
    users = tmp_path_factory.mktemp("users") / "users.txt"
    users.write_text("".join(f"{user_line(n, r, p)}\n" for n, (r, p) in USERS.items()))
    with MonaiLabelServer(site / "studies", conf=conf, token=TOKEN, users_file=users) as running:
        yield running
    log = running.log_text()
    assert TOKEN not in log and not any(password in log for _, password in USERS.values())


@pytest.fixture(scope="module")
def http(server) -> requests.Session:
    """Requests that present the token."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    return session


@pytest.fixture
def untouched(site):
    """Fails the test if a file or folder appeared, changed or went (in the studies too)."""
    before = _snapshot(site)
    yield
    assert _snapshot(site) == before


def _upload(name: str) -> dict[str, tuple[str, bytes]]:
    return {"file": (name, b"not an image"), "label": (name, b"not a label")}


@pytest.mark.parametrize("image", TRAVERSALS)
def test_traversing_image_ids_are_refused_on_every_verb(server, http, image, untouched):
    url = f"{server.url}/datastore/image"
    replies = {
        "PUT": http.put(url, params={"image": image}, files=_upload("victim.nii.gz")),
        "DELETE": http.delete(url, params={"id": image}),
        "GET": http.get(url, params={"image": image}),
        "HEAD": http.head(url, params={"image": image}),
        "GET info": http.get(f"{url}/info", params={"image": image}),
        "PUT label": http.put(
            f"{server.url}/datastore/label", params={"image": image}, files=_upload("l.nii.gz")
        ),
        "GET label": http.get(
            f"{server.url}/datastore/label", params={"label": image, "tag": "final"}
        ),
        "DELETE label": http.delete(
            f"{server.url}/datastore/label", params={"id": image, "tag": "final"}
        ),
    }
    assert {verb: reply.status_code for verb, reply in replies.items()} == dict.fromkeys(
        replies, 400
    )
    assert "is not allowed" in replies["PUT"].json()["detail"]


def test_an_uploaded_file_name_cannot_choose_the_path(server, http, site, untouched):
    reply = http.put(f"{server.url}/datastore/image", files=_upload("../../victim.nii.gz"))
    # The stock endpoint keeps the base name only: the image lands inside the folder.
    assert reply.status_code == 200, reply.text
    assert (site / "studies" / "victim.nii.gz").read_bytes() == b"not an image"
    assert http.delete(f"{server.url}/datastore/image", params={"id": "victim"}).status_code == 200
    assert not (site / "studies" / "victim.nii.gz").exists()


@pytest.mark.parametrize("tag", TAGS)
def test_traversing_label_tags_are_refused(server, http, tag, untouched):
    url = f"{server.url}/datastore/label"
    replies = {
        "PUT": http.put(url, params={"image": IMAGE, "tag": tag}, files=_upload("l.nii.gz")),
        "GET": http.get(url, params={"label": IMAGE, "tag": tag}),
        "HEAD": http.head(url, params={"image": IMAGE, "tag": tag}),
        "DELETE": http.delete(url, params={"id": IMAGE, "tag": tag}),
        "GET info": http.get(f"{url}/info", params={"label": IMAGE, "tag": tag}),
    }
    assert {verb: reply.status_code for verb, reply in replies.items()} == dict.fromkeys(
        replies, 400
    )


def test_plain_ids_still_work(server, http, site, untouched):
    url = f"{server.url}/datastore/label"
    label = site / "label.nii.gz"
    write_nifti(Volume(np.ones((4, 8, 8), np.uint8), np.eye(4)), label)
    reply = http.put(
        url, params={"image": IMAGE}, files={"label": ("l.nii.gz", label.read_bytes())}
    )
    label.unlink()
    assert reply.status_code == 200, reply.text
    assert http.get(url, params={"label": IMAGE, "tag": "final"}).status_code == 200
    assert http.delete(url, params={"id": IMAGE, "tag": "final"}).status_code == 200
    got = http.get(f"{server.url}/datastore/image", params={"image": IMAGE})
    assert got.status_code == 200
    assert got.content == (site / "studies" / f"{IMAGE}.nii.gz").read_bytes()


#: What an intruder would try: (method, path, query), write endpoints and downloads.
GUARDED = [
    ("GET", "/info/", {}),
    ("PUT", "/datastore/image", {"image": "new"}),
    ("DELETE", "/datastore/image", {"id": IMAGE}),
    ("PUT", "/datastore/label", {"image": IMAGE}),
    ("DELETE", "/datastore/label", {"id": IMAGE, "tag": "final"}),
    ("GET", "/datastore/image", {"image": IMAGE}),
    ("GET", "/datastore/dataset", {}),
    ("GET", "/datastore/", {"output": "all"}),
    ("POST", "/train/litemedsam", {}),
    ("DELETE", "/train/", {}),
    ("POST", "/infer/litemedsam_automatic", {"image": IMAGE}),
    ("GET", "/activelearning/random", {}),
]


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", TOKEN])
def test_without_the_token_nothing_is_answered(server, site, header, untouched):
    headers = {"Authorization": header} if header else {}
    replies = {
        f"{method} {path}": requests.request(
            method, server.url + path, params=query, headers=headers, files=_upload("x.nii.gz")
        )
        for method, path, query in GUARDED
    }
    assert {call: reply.status_code for call, reply in replies.items()} == dict.fromkeys(
        replies, 401
    )
    assert replies["GET /info/"].headers["www-authenticate"] == "Bearer"
    assert (site / "studies" / f"{IMAGE}.nii.gz").is_file()


def test_with_the_token_the_server_answers(server, http):
    info = http.get(f"{server.url}/info/")
    assert info.status_code == 200 and info.json()["name"] == "msklabel"
    assert http.get(f"{server.url}/datastore/image", params={"image": IMAGE}).status_code == 200


def test_the_stock_client_logs_in_as_the_slicer_plugin_does(server, tmp_path):
    """Slicer's MONAILabel plugin: /auth/ says auth is on, login with a user name and a
    password (a user's, or any name and the shared token), then every call carries the
    returned bearer token."""
    client = MONAILabelClient(server.url, tmpdir=str(tmp_path))
    assert client.auth_enabled()
    assert not client.auth_valid_token()
    for name, password in [("annie", "not-the-password"), ("annie", TOKEN), ("x", "y")]:
        with pytest.raises(MONAILabelClientException):
            client.auth_token(name, password)
    for name, password in [("annie", USERS["annie"][1]), ("anyone", TOKEN)]:
        client = MONAILabelClient(server.url, tmpdir=str(tmp_path))
        client.update_auth(client.auth_token(name, password))
        assert client.auth_valid_token()
        assert client.info()["name"] == "msklabel"
        assert list(client.datastore()["objects"]) == [IMAGE]


def _login(server, name: str) -> requests.Session:
    """A session logged in as the user ``name`` (form login, as the stock clients do)."""
    reply = requests.post(
        f"{server.url}/auth/token",
        data={"username": name, "password": USERS[name][1], "grant_type": "password"},
    )
    assert reply.status_code == 200, reply.text
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
    return session


#: What only an admin may do: train, upload, delete, download the dataset, model files.
ADMIN_ONLY = [
    ("POST", "/train/litemedsam", {}),
    ("POST", "/train/", {}),
    ("DELETE", "/train/", {}),
    ("PUT", "/datastore/image", {"image": "new"}),
    ("DELETE", "/datastore/image", {"id": IMAGE}),
    ("DELETE", "/datastore/label", {"id": IMAGE, "tag": "final"}),
    ("GET", "/datastore/dataset", {}),
    ("PUT", "/model/litemedsam", {}),
    ("DELETE", "/model/litemedsam", {}),
    ("GET", "/logs/", {}),
]


def test_an_annotator_can_neither_train_nor_delete(server, site, untouched):
    annotator = _login(server, "annie")
    replies = {
        f"{method} {path}": annotator.request(
            method, server.url + path, params=query, files=_upload("x.nii.gz")
        )
        for method, path, query in ADMIN_ONLY
    }
    assert {call: reply.status_code for call, reply in replies.items()} == dict.fromkeys(
        replies, 403
    )
    status = annotator.get(f"{server.url}/train/")  # the training status: any role
    assert status.status_code == 404 and "No Train Tasks Found" in status.text  # the stock answer
    assert "annotator role may not" in replies["POST /train/litemedsam"].json()["detail"]
    assert annotator.get(f"{server.url}/info/").json()["name"] == "msklabel"
    got = annotator.get(f"{server.url}/datastore/image", params={"image": IMAGE})
    assert got.content == (site / "studies" / f"{IMAGE}.nii.gz").read_bytes()


def test_an_annotator_saves_labels_and_an_admin_deletes_them(server, site, untouched):
    annotator, admin = _login(server, "annie"), _login(server, "ada")
    url = f"{server.url}/datastore/label"
    label = site / "label.nii.gz"
    write_nifti(Volume(np.ones((4, 8, 8), np.uint8), np.eye(4)), label)
    data = label.read_bytes()
    label.unlink()
    reply = annotator.put(url, params={"image": IMAGE}, files={"label": ("l.nii.gz", data)})
    assert reply.status_code == 200, reply.text
    assert annotator.delete(url, params={"id": IMAGE, "tag": "final"}).status_code == 403
    assert admin.delete(url, params={"id": IMAGE, "tag": "final"}).status_code == 200


def test_https_with_a_certificate(site, tmp_path):
    """``--tls CERT KEY``: the server answers HTTPS only; the stock client logs in over it."""
    cert, key = certificate(tmp_path, "labeling")
    conf = {"model_dir": str(tmp_path / "model")}
    with MonaiLabelServer(site / "studies", conf=conf, token=TOKEN, tls=(cert, key)) as server:
        assert server.url.startswith("https://127.0.0.1:")
        info = requests.get(
            f"{server.url}/info/", headers={"Authorization": f"Bearer {TOKEN}"}, verify=str(cert)
        )
        assert info.status_code == 200 and info.json()["name"] == "msklabel"
        assert requests.get(f"{server.url}/info/", verify=str(cert)).status_code == 401
        client = MONAILabelClient(server.url, tmpdir=str(tmp_path))
        client.update_auth(client.auth_token("annie-or-anyone", TOKEN))
        assert client.info()["name"] == "msklabel"
        plain = server.url.replace("https://", "http://")
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"{plain}/info/", headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.mark.parametrize("path", ["/proxy/dicom/wado/../../tools/x", "/datastore/../info/"])
def test_dot_segments_in_the_path_are_refused_even_to_an_admin(server, path, untouched):
    """Sent as is (``requests`` would remove them): the DICOMweb proxy would pass them on."""
    connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
    reply = connection.getresponse()
    assert reply.status == 400 and b"not allowed in the path" in reply.read()
    connection.close()
