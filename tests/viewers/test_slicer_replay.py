"""A 3D Slicer session replayed: the MONAILabel plugin's exact requests against the msklabel app.

Slicer cannot run here, so :class:`SlicerPlugin` makes the calls that the MONAILabel plugin of
monailabel 0.8.5 (``plugins/slicer/MONAILabel/MONAILabel.py``) makes in a normal session, in
its order and with its parameters, through the plugin's own HTTP client (shipped in the
monailabel wheel as ``monailabel.client``), and reads every answer as the plugin does:

0. *Login* (``MONAILabelLogic._client``, before every call): ``GET /auth/``; auth being on,
   the user name and password of the login dialog (asked once), then ``GET /auth/token/valid``
   with the token it holds, and ``POST /auth/token`` (form ``username``, ``password``,
   ``grant_type=password``) when it holds none or the server says it is no longer valid;
   the call then carries ``Authorization: bearer <access_token>``. The server runs with a
   users file: the session logs in as an annotator, and as an admin to train.
1. *Fetch info*: ``GET /info/``.
2. *Next sample*: ``POST /activelearning/<strategy>`` with the strategy's config, then the
   image: loaded from the sample's ``path`` when that file exists on the Slicer machine,
   else downloaded from ``GET /datastore/image?image=<id>`` by Slicer's SampleData module,
   which sends no token; ``GET /datastore/?output=all`` for an original label.
3. Automatic segmentation of the new sample: ``POST /infer/<model>`` with the model's config
   plus ``result_extension=.nrrd``, ``result_dtype=uint8`` and ``client_id``. The plugin reads
   the NRRD with SimpleITK and names label value ``v`` after the ``v``-th entry of
   ``label_names`` sorted by value (``background`` left out).
4. Interactive clicks (``deepgrow``): ``label``, ``foreground``/``background`` points in IJK
   (rounded voxel indices of the image file), ``roi`` as ``[i0, i1, j0, j1, k0, k1]`` from
   the ROI's RAS corners, and ``slice`` for 2D models. 2D answers update the clicked slice,
   3D answers name value 1 after the clicked label.
5. *Submit label*: ``PUT /datastore/label?image=<id>`` with the segments exported as a NIfTI
   label map (values 1..N in segment order) and ``{"label_info": [{"name", "idx"}]}``.
6. *Train*: ``POST /train/<trainer>`` with the trainer's config, then ``GET /train/`` polls
   (an annotator is refused with 403; the session logs in again as an admin).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from monailabel.client import MONAILabelClient
from monailabel.client.client import MONAILabelClientException
from scipy import ndimage

from msklabel.labeling.studies import sample_studies
from msklabel.security.users import user_line
from msklabel.serve import MonaiLabelServer

pytestmark = pytest.mark.slow

#: The plugin's default client id (Slicer setting ``MONAILabel/clientId``).
CLIENT_ID = "user-xyz"
#: What the plugin adds to every infer request (``MONAILabelLogic.infer``).
RESULT_PARAMS = {"result_extension": ".nrrd", "result_dtype": "uint8"}
#: The plugin's default file extension for images and label maps it writes.
FILE_EXT = ".nii.gz"
#: Options typed into the plugin's (editable) options table for a short training run.
TRAIN_OPTIONS = {"max_steps": 2, "max_epochs": 1, "max_slices": 4}
#: The users file of the server: name -> (role, password).
USERS = {"annie": ("annotator", "annotator passphrase"), "ada": ("admin", "admin passphrase 1")}


@dataclass
class SlicerPlugin:
    """The MONAILabel plugin's side of a session: its calls, its state, its readers."""

    url: str
    tmpdir: Path
    username: str | None = None  #: what the login dialog was given
    password: str | None = None
    auth_token: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    sample: dict[str, Any] = field(default_factory=dict)
    image: sitk.Image | None = None
    segments: dict[str, np.ndarray] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def client(self) -> MONAILabelClient:
        """``MONAILabelLogic._client``: a new client, logged in when auth is on (the plugin's
        steps, in its order; a failed login forgets the credentials, as the plugin does)."""
        client = MONAILabelClient(self.url, str(self.tmpdir), CLIENT_ID)
        self.calls.append("GET /auth/")
        assert client.auth_enabled(), "the server must ask for a login"
        assert self.username and self.password, "LoginDialog: no credentials typed"
        if self.auth_token:
            client.update_auth(self.auth_token)
        valid = False
        if self.auth_token:
            self.calls.append("GET /auth/token/valid")
            valid = client.auth_valid_token()
        if not valid:
            self.calls.append("POST /auth/token")
            try:
                self.auth_token = client.auth_token(self.username, self.password)
                client.update_auth(self.auth_token)
            except MONAILabelClientException:
                self.username = self.password = self.auth_token = None
        return client

    def login(self, username: str) -> None:
        """The login dialog (again, as after ``setServer``): new credentials, no token."""
        self.username, self.password, self.auth_token = username, USERS[username][1], None

    def call(self, request: str) -> MONAILabelClient:
        """A client for one plugin call, recorded as ``request`` after its auth check."""
        client = self.client()
        self.calls.append(request)
        return client

    def config(self, section: str, name: str) -> dict[str, Any]:
        """``getParamsFromConfig``: a task's config, lists replaced by their first item."""
        section = {"infer": "models", "train": "trainers", "activelearning": "strategies"}[section]
        config = self.info.get(section, {}).get(name, {}).get("config", {})
        return {k: v[0] if isinstance(v, list) else v for k, v in config.items()}

    def fetch_info(self) -> dict[str, Any]:
        self.info = self.call("GET /info/").info()
        return self.info

    def models(self, *types: str) -> list[str]:
        """The models a selector lists (``updateSelector``), in ``/info`` order."""
        return [name for name, m in self.info["models"].items() if m["type"] in types]

    def next_sample(self, strategy: str) -> dict[str, Any]:
        client = self.call(f"POST /activelearning/{strategy}")
        return client.next_sample(strategy, self.config("activelearning", strategy))

    def download_uri(self, sample: dict[str, Any]) -> str:
        return f"{self.url}/datastore/image?image={urllib.parse.quote_plus(sample['id'])}"

    def load_sample(self, sample: dict[str, Any]) -> sitk.Image:
        """``onNextSampleButton``: the sample's file when it exists here, else the download of
        ``SampleDataLogic.downloadFromURL`` (no token), and load it."""
        image_file = sample.get("path")
        if image_file and Path(image_file).exists():
            target = Path(image_file)
        else:
            self.calls.append("GET /datastore/image")
            target = self.tmpdir / sample.get("name", sample["id"])
            with urllib.request.urlopen(self.download_uri(sample), timeout=60) as response:
                target.write_bytes(response.read())
        self.sample, self.image = sample, sitk.ReadImage(str(target))
        label_names = self.info.get("labels") or []
        self.segments = {name: self.blank() for name in label_names}  # initSample
        return self.image

    def blank(self) -> np.ndarray:
        assert self.image is not None
        return np.zeros(sitk.GetArrayViewFromImage(self.image).shape, np.uint8)

    def infer(self, model: str, params: dict[str, Any]) -> tuple[sitk.Image, dict[str, Any]]:
        """``MONAILabelLogic.infer``: the result file read with SimpleITK, and the params."""
        params = {**params, **RESULT_PARAMS}
        client = self.call(f"POST /infer/{model}")
        result_file, answer = client.infer(model, self.sample["id"], params)
        assert result_file is not None, f"/infer/{model} returned no label file: {answer}"
        assert result_file.endswith(".nrrd"), result_file
        label = sitk.ReadImage(result_file)
        Path(result_file).unlink()
        return label, answer

    def label_order(self, model: str, answer: dict[str, Any]) -> list[str]:
        """The names the plugin gives label values 1, 2, ... of an answer."""
        labels = answer.get("label_names") or self.info["models"][model].get("labels")
        if isinstance(labels, dict):
            labels = [k for k, _ in sorted(labels.items(), key=lambda item: item[1])]
        return [name for name in labels if name != "background"]

    def click(
        self,
        model: str,
        label: str,
        foreground: list[list[int]],
        background: list[list[int]] | None = None,
        roi: list[int] | None = None,
    ) -> tuple[sitk.Image, dict[str, Any]]:
        """``onClickDeepgrow`` for a deepgrow model, the last foreground point being current."""
        is_3d = self.info["models"][model].get("dimension", 3) != 2
        slice_index = foreground[-1][2]
        background = background or []
        if is_3d or not slice_index:
            fg, bg = list(foreground), list(background)
        else:
            fg = [p for p in foreground if p[2] == slice_index]
            bg = [p for p in background if p[2] == slice_index]
        params: dict[str, Any] = {"label": label, "foreground": fg, "background": bg}
        params.update(self.config("infer", model))
        if roi:
            params["roi"] = roi
        if not is_3d:
            params["slice"] = slice_index
        return self.infer(model, params)


def ijk_to_ras(image: sitk.Image, index: np.ndarray) -> np.ndarray:
    """Slicer's RAS of a (continuous) IJK index of ``image``."""
    lps = np.array(image.TransformContinuousIndexToPhysicalPoint([float(v) for v in index]))
    return lps * [-1, -1, 1]


def ras_to_ijk(image: sitk.Image, ras: np.ndarray) -> list[int]:
    """``GetRASToIJKMatrix`` applied to a point, rounded as the plugin rounds."""
    lps = [float(v) for v in np.asarray(ras) * [-1, -1, 1]]
    return [round(v) for v in image.TransformPhysicalPointToContinuousIndex(lps)]


def interior_point(mask: np.ndarray) -> list[int]:
    """IJK of the voxel deepest inside ``mask`` (array order k, j, i) on its largest slice."""
    k = int(np.argmax(mask.reshape(mask.shape[0], -1).sum(axis=1)))
    depth = ndimage.distance_transform_edt(mask[k])
    j, i = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return [int(i), int(j), k]


@pytest.fixture(scope="module")
def plugin(request, tmp_path_factory) -> Iterator[SlicerPlugin]:
    studies = sample_studies(tmp_path_factory.mktemp("studies"))
    users = tmp_path_factory.mktemp("users") / "users.txt"
    users.write_text("".join(f"{user_line(n, r, p)}\n" for n, (r, p) in USERS.items()))
    failed = request.session.testsfailed
    with MonaiLabelServer(studies, users_file=users) as server:
        session = SlicerPlugin(server.url, tmp_path_factory.mktemp("slicer"))
        session.login("annie")
        yield session
        if request.session.testsfailed > failed:
            print(f"calls: {session.calls}\nserver log:\n{server.log_text()[-6000:]}")
        log = server.log_text()
        assert not any(password in log for _, password in USERS.values())


def test_the_plugin_logs_in_once_then_presents_its_token(plugin):
    plugin.calls.clear()
    plugin.fetch_info()
    plugin.fetch_info()
    assert plugin.calls == [
        "GET /auth/", "POST /auth/token", "GET /info/",
        "GET /auth/", "GET /auth/token/valid", "GET /info/",
    ]  # fmt: skip
    wrong = SlicerPlugin(plugin.url, plugin.tmpdir, "annie", "not the password")
    with pytest.raises(MONAILabelClientException) as refused:
        wrong.call("GET /info/").info()
    assert refused.value.status_code == 401
    assert wrong.username is None and wrong.auth_token is None  # the dialog asks again


def test_fetch_info(plugin):
    info = plugin.fetch_info()
    assert not info.get("config"), "the plugin refuses servers whose /info has a 'config'"
    assert plugin.models("segmentation"), "no model for the Auto Segmentation section"
    assert plugin.models("deepgrow", "deepedit"), "no model for the SmartEdit section"
    assert info["strategies"] and info["trainers"]
    for name, model in info["models"].items():
        labels = plugin.label_order(name, {})
        # Slicer imports value v as the v-th name: the values must be exactly 1..N.
        if isinstance(model["labels"], dict):
            values = sorted(v for k, v in model["labels"].items() if k != "background")
            assert values == list(range(1, len(values) + 1)), name
        assert set(labels) <= set(info["labels"]), name


def test_next_sample_every_strategy(plugin, assert_same_grid):
    for strategy in plugin.info["strategies"]:
        sample = plugin.next_sample(strategy)
        assert sample.get("id"), f"{strategy}: no unlabeled image offered ({sample})"
    image = plugin.load_sample(sample)
    assert image.GetDimension() == 3 and min(image.GetSize()) > 1
    # The plugin downloads through Slicer's SampleData, which sends no token: refused. A
    # Slicer on another machine cannot load images from a server with auth on (the stock
    # MONAI Label server refuses it too); this one reads the sample's file, as the plugin does.
    assert Path(sample["path"]).exists()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(plugin.download_uri(sample), timeout=60)
    assert refused.value.code == 401
    downloaded = plugin.tmpdir / "downloaded.nii.gz"
    headers = {"Authorization": f"bearer {plugin.auth_token['access_token']}"}
    request = urllib.request.Request(plugin.download_uri(sample), headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        downloaded.write_bytes(response.read())
    assert_same_grid(sitk.ReadImage(str(downloaded)), image)
    objects = plugin.call("GET /datastore/?output=all").datastore()["objects"]
    assert sample["id"] in objects


def test_automatic_segmentation(plugin, assert_same_grid):
    # initSample: the first segmentation model is the one the selector shows.
    model = plugin.models("segmentation", "detection")[0]
    label, answer = plugin.infer(model, plugin.config("infer", model))
    assert_same_grid(label, plugin.image)
    assert label.GetPixelID() == sitk.sitkUInt8
    names = plugin.label_order(model, answer)
    values = sitk.GetArrayFromImage(label)
    found = {int(v) for v in np.unique(values) if v}
    assert found and found <= set(range(1, len(names) + 1)), (found, names)
    for value in found:
        plugin.segments[names[value - 1]] = (values == value).astype(np.uint8)
    assert plugin.segments["femur"].any(), f"no femur among {[names[v - 1] for v in found]}"


def test_click_on_one_slice(plugin, assert_same_grid):
    model = next(m for m in plugin.models("deepgrow") if plugin.info["models"][m]["dimension"] == 2)
    inside = interior_point(plugin.segments["femur"])
    outside = [inside[0], 2, inside[2]]  # top row of the same slice: not bone
    label, _ = plugin.click(model, "femur", [inside], [outside])
    assert_same_grid(label, plugin.image)
    values = sitk.GetArrayFromImage(label)
    assert len(np.unique(values[values > 0])) == 1, "a 2D click answers one structure"
    mask = values > 0
    i, j, k = inside
    assert mask[k, j, i], "the mask does not contain the click"
    assert not mask[outside[2], outside[1], outside[0]]
    others = np.delete(mask, k, axis=0)
    assert not others.any(), "a 2D answer spills onto slices that were not clicked"
    plugin.segments["femur"][k] = mask[k]  # updateSegmentationMask(sliceIndex=k)


def test_roi_with_click(plugin):
    model = next(m for m in plugin.models("deepgrow") if plugin.info["models"][m]["dimension"] == 2)
    femur = plugin.segments["femur"]
    i, j, k = interior_point(femur)
    rows, cols = np.nonzero(femur[k])
    corners = [(cols.min() - 3, rows.min() - 3, k - 0.4), (cols.max() + 3, rows.max() + 3, k + 0.4)]
    ras = [ijk_to_ras(plugin.image, np.array(c)) for c in corners]
    low, high = np.minimum(*ras), np.maximum(*ras)  # the ROI node's RAS box
    a, b = ras_to_ijk(plugin.image, low), ras_to_ijk(plugin.image, high)
    roi = [v for pair in zip(a, b, strict=True) for v in pair]  # getROIPointsXYZ
    label, _ = plugin.click(model, "femur", [[i, j, k]], roi=roi)
    mask = sitk.GetArrayFromImage(label) > 0
    assert mask[k, j, i]
    (i0, i1), (j0, j1), (k0, k1) = (sorted(roi[n : n + 2]) for n in (0, 2, 4))
    box = np.zeros_like(mask)
    box[max(k0, 0) : k1 + 1, max(j0 - 1, 0) : j1 + 2, max(i0 - 1, 0) : i1 + 2] = True
    assert not (mask & ~box).any(), f"the mask leaves the ROI {roi}"


def test_propagation_names_value_one(plugin, assert_same_grid):
    model = next(m for m in plugin.models("deepgrow") if plugin.info["models"][m]["dimension"] == 3)
    assert plugin.segments["tibia"].any(), "the automatic result had no tibia to click in"
    click = interior_point(plugin.segments["tibia"])
    label, _ = plugin.click(model, "tibia", [click])
    assert_same_grid(label, plugin.image)
    # A 3D deepgrow answer is imported with segment ids [label]: value 1 is the label.
    tibia = sitk.GetArrayFromImage(label) == 1
    i, j, k = click
    assert tibia[k, j, i], "value 1 of the answer does not contain the click"
    assert np.count_nonzero(tibia.any(axis=(1, 2))) > 1, "nothing propagated"
    plugin.segments["tibia"] = tibia.astype(np.uint8)


def test_submit_label(plugin, assert_same_grid):
    # onSaveLabel: segments exported in segment order, values 1..N, label_info idx = order.
    names = list(plugin.segments)
    exported = np.zeros_like(plugin.blank())
    for value, name in enumerate(names, start=1):
        exported[plugin.segments[name] > 0] = value
    label_info = [{"name": name, "idx": index + 1} for index, name in enumerate(names)]
    image = sitk.GetImageFromArray(exported)
    image.CopyInformation(plugin.image)
    label_in = plugin.tmpdir / f"label{FILE_EXT}"
    sitk.WriteImage(image, str(label_in))
    result = plugin.call("PUT /datastore/label").save_label(
        plugin.sample["id"], str(label_in), params={"label_info": label_info}
    )
    assert result, "empty answer to the label upload"
    info = plugin.fetch_info()
    assert info["datastore"]["completed"] == 1
    client = plugin.call("GET /datastore/label")
    saved = sitk.ReadImage(client.download_label(plugin.sample["id"], "final"))
    assert_same_grid(saved, plugin.image)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(saved), exported)


def test_train(plugin):
    trainer = next(iter(plugin.info["trainers"]))
    params = plugin.config("train", trainer)
    params.update({k: v for k, v in TRAIN_OPTIONS.items() if k in params})
    with pytest.raises(MONAILabelClientException) as refused:  # an annotator
        plugin.call(f"POST /train/{trainer}").train_start(trainer, params)
    assert "Status: 403;" in str(refused.value)  # this call's exception carries no status_code
    plugin.login("ada")
    started = plugin.call(f"POST /train/{trainer}").train_start(trainer, params)
    assert started.get("status") in ("RUNNING", "DONE", "SUBMITTED", None), started
    # The plugin's monitorTraining polls the latest task's status until it leaves RUNNING
    # (the check_if_running form can answer "not running" while the task is still queued).
    deadline = time.monotonic() + 600
    while True:
        status = plugin.call("GET /train/").train_status(check_if_running=False)
        if status.get("status") not in ("SUBMITTED", "RUNNING"):
            break
        assert time.monotonic() < deadline, "training did not finish"
        time.sleep(2)
    assert status.get("status") == "DONE", json.dumps(status)[-2000:]
    assert not plugin.call("GET /train/?check_if_running=true").train_status(True)
    stats = plugin.fetch_info()["train_stats"][trainer]
    assert stats, "no train stats after training"
    # Next sample after training: every image is labelled, the plugin shows a warning.
    assert not plugin.next_sample(next(iter(plugin.info["strategies"]))).get("id")
