"""Hostile requests to the real ``msklabel serve`` server: no path from a request leaves the
studies folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import requests

from msklabel.io.nifti import write_nifti
from msklabel.serve import MonaiLabelServer
from msklabel.volume import Volume

pytestmark = pytest.mark.slow

IMAGE = "knee"
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
    with MonaiLabelServer(site / "studies", conf={"model_dir": str(model_dir)}) as running:
        yield running


@pytest.fixture
def untouched(site):
    """Fails the test if a file or folder appeared, changed or went (in the studies too)."""
    before = _snapshot(site)
    yield
    assert _snapshot(site) == before


def _upload(name: str) -> dict[str, tuple[str, bytes]]:
    return {"file": (name, b"not an image"), "label": (name, b"not a label")}


@pytest.mark.parametrize("image", TRAVERSALS)
def test_traversing_image_ids_are_refused_on_every_verb(server, image, untouched):
    url = f"{server.url}/datastore/image"
    replies = {
        "PUT": requests.put(url, params={"image": image}, files=_upload("victim.nii.gz")),
        "DELETE": requests.delete(url, params={"id": image}),
        "GET": requests.get(url, params={"image": image}),
        "HEAD": requests.head(url, params={"image": image}),
        "GET info": requests.get(f"{url}/info", params={"image": image}),
        "PUT label": requests.put(
            f"{server.url}/datastore/label", params={"image": image}, files=_upload("l.nii.gz")
        ),
        "GET label": requests.get(
            f"{server.url}/datastore/label", params={"label": image, "tag": "final"}
        ),
        "DELETE label": requests.delete(
            f"{server.url}/datastore/label", params={"id": image, "tag": "final"}
        ),
    }
    assert {verb: reply.status_code for verb, reply in replies.items()} == dict.fromkeys(
        replies, 400
    )
    assert "is not allowed" in replies["PUT"].json()["detail"]


def test_an_uploaded_file_name_cannot_choose_the_path(server, site, untouched):
    reply = requests.put(f"{server.url}/datastore/image", files=_upload("../../victim.nii.gz"))
    # The stock endpoint keeps the base name only: the image lands inside the folder.
    assert reply.status_code == 200, reply.text
    assert (site / "studies" / "victim.nii.gz").read_bytes() == b"not an image"
    assert (
        requests.delete(f"{server.url}/datastore/image", params={"id": "victim"}).status_code == 200
    )
    assert not (site / "studies" / "victim.nii.gz").exists()


@pytest.mark.parametrize("tag", TAGS)
def test_traversing_label_tags_are_refused(server, site, tag, untouched):
    url = f"{server.url}/datastore/label"
    replies = {
        "PUT": requests.put(url, params={"image": IMAGE, "tag": tag}, files=_upload("l.nii.gz")),
        "GET": requests.get(url, params={"label": IMAGE, "tag": tag}),
        "HEAD": requests.head(url, params={"image": IMAGE, "tag": tag}),
        "DELETE": requests.delete(url, params={"id": IMAGE, "tag": tag}),
        "GET info": requests.get(f"{url}/info", params={"label": IMAGE, "tag": tag}),
    }
    assert {verb: reply.status_code for verb, reply in replies.items()} == dict.fromkeys(
        replies, 400
    )


def test_plain_ids_still_work(server, site, untouched):
    url = f"{server.url}/datastore/label"
    label = site / "label.nii.gz"
    write_nifti(Volume(np.ones((4, 8, 8), np.uint8), np.eye(4)), label)
    reply = requests.put(
        url, params={"image": IMAGE}, files={"label": ("l.nii.gz", label.read_bytes())}
    )
    label.unlink()
    assert reply.status_code == 200, reply.text
    assert requests.get(url, params={"label": IMAGE, "tag": "final"}).status_code == 200
    assert requests.delete(url, params={"id": IMAGE, "tag": "final"}).status_code == 200
    got = requests.get(f"{server.url}/datastore/image", params={"image": IMAGE})
    assert got.status_code == 200
    assert got.content == (site / "studies" / f"{IMAGE}.nii.gz").read_bytes()
