"""OHIF as monailabel ships it, driven in a real headless chromium against the msklabel app.

A real Orthanc holds the sample knee's first echo (its 24 images, files unchanged: OHIF 3.10
mishandles multi-echo series, see docs/viewers.md); the stock MONAI Label server runs our app
on a DICOMweb datastore pointing at it and proxies OHIF's DICOMweb requests there.
``ohif_session.mjs`` (playwright-core, Debian's chromium) clicks through a radiologist's
session and records what OHIF drew; these tests check it against the server's answers, then
check that the saved label reached Orthanc as a SEG and that OHIF displays our SEG and takes
our SR. Screenshots of every step are kept in the ``artifacts`` folder
(``$MSKLABEL_ARTIFACTS/test_ohif`` when set).
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dicomweb_client.api import DICOMwebClient

from msklabel.biomarkers.knee import measure_knee
from msklabel.dicom.seg import read_seg_labels, read_source_images
from msklabel.dicom.sr import make_measurement_report
from msklabel.labeling.series import series_volume
from msklabel.labels import KneeLabel
from msklabel.security.users import user_line
from msklabel.serve import MonaiLabelServer
from msklabel.testing.orthanc import OrthancServer

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("ohif_session.mjs")
#: The structure the radiologist clicks for the interactive infer.
CLICKED = "femur"
#: The annotator the radiologist logs in as (the server runs with a users file).
PASSWORD = "annotator passphrase"


@dataclass(frozen=True)
class Knee:
    """The sample knee in Orthanc: its study, its series and the files stored."""

    study: str
    series: str
    files: list[Path]


@dataclass
class Session:
    """A browser session's results (``results-<phase>.json``) and the server behind it."""

    server: MonaiLabelServer
    pacs: OrthancServer
    knee: Knee
    artifacts: Path
    results: dict[str, Any]


def run_browser(phase: str, server: MonaiLabelServer, knee: Knee, artifacts: Path) -> dict:
    """Run one phase of ``ohif_session.mjs``; its results, or a failure with both logs."""
    config = {
        "phase": phase,
        "server": server.url,
        "study": knee.study,
        "series": knee.series,
        "artifacts": str(artifacts),
        "label": CLICKED,
        "username": "annie",
        "password": PASSWORD,
    }
    config_file = artifacts / f"{phase}.json"
    config_file.write_text(json.dumps(config))
    done = subprocess.run(
        ["node", str(SCRIPT), str(config_file)], capture_output=True, text=True, timeout=1200
    )
    if done.returncode != 0:
        pytest.fail(
            f"OHIF session ({phase}) failed, screenshots in {artifacts}:\n"
            f"{done.stdout[-4000:]}{done.stderr[-2000:]}\n"
            f"--- MONAI Label server log ---\n{server.log_text()[-6000:]}"
        )
    return json.loads((artifacts / f"results-{phase}.json").read_text())


@pytest.fixture(scope="module")
def knee_pacs(sample) -> Iterator[tuple[OrthancServer, Knee]]:
    reference = series_volume(sample.dicom_dir)  # the first echo
    files = [Path(path) for path in reference.source_files]
    datasets = [pydicom.dcmread(path) for path in files]
    with OrthancServer() as pacs:
        client = DICOMwebClient(url=pacs.dicomweb_url)
        for start in range(0, len(datasets), 48):
            client.store_instances(datasets[start : start + 48])
        first = datasets[0]
        yield pacs, Knee(first.StudyInstanceUID, first.SeriesInstanceUID, files)


@pytest.fixture(scope="module")
def session(knee_pacs, artifacts) -> Iterator[Session]:
    pacs, knee = knee_pacs
    users = artifacts / "users.txt"
    users.write_text(user_line("annie", "annotator", PASSWORD) + "\n")
    with MonaiLabelServer(pacs.dicomweb_url, users_file=users) as server:
        results = run_browser("label", server, knee, artifacts)
        yield Session(server, pacs, knee, artifacts, results)
        assert PASSWORD not in server.log_text()


def test_the_radiologist_logs_in_through_the_login_page(session):
    login = session.results["login"]
    assert login["user"] == "annie" and login["returned_to"].endswith("/ohif/")
    assert login["cookie"] == [{"httpOnly": True, "sameSite": "Strict", "path": "/"}]
    refused = urllib.request.Request(f"{session.server.url}/info/")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(refused, timeout=30)
    assert error.value.code == 401


def grid_of(labelmap: dict[str, Any]) -> sitk.Image:
    """An empty image with the geometry of OHIF's labelmap volume (LPS, like ITK)."""
    image = sitk.Image([int(n) for n in labelmap["dimensions"]], sitk.sitkUInt8)
    image.SetSpacing(labelmap["spacing"])
    image.SetOrigin(labelmap["origin"])
    image.SetDirection(np.reshape(labelmap["direction"], (3, 3)).T.ravel().tolist())
    return image


def values_by_name(model: dict[str, Any]) -> dict[str, int]:
    """Label name -> value in the model's answers, as OHIF's panel maps them from /info."""
    labels = model["labels"]
    if isinstance(labels, dict):
        return {name: int(value) for name, value in labels.items()}
    return {name: value for value, name in enumerate(labels, start=1)}


def test_automatic_segmentation_drawn(session, assert_same_grid):
    results = session.results
    assert results["steps"][:3] == ["ohif-study-list", "ohif-study-open", "ohif-automatic"]
    model = results["automatic"]["model"]
    labelmap = results["automatic"]["labelmap"]
    answer = sitk.ReadImage(str(session.artifacts / f"{model}.nrrd"))
    # OHIF copies the answer's voxels into its labelmap without reading the NRRD header:
    # the answer must be on OHIF's volume grid, voxel for voxel.
    assert_same_grid(answer, grid_of(labelmap))
    found = np.bincount(sitk.GetArrayFromImage(answer).ravel())
    segment_of = {name: int(index) for index, name in labelmap["segments"].items()}
    drawn = {name: 0 for name in segment_of}
    for name, value in values_by_name(results["info"]["models"][model]).items():
        expected = int(found[value]) if value < len(found) else 0
        drawn[name] = labelmap["counts"].get(str(segment_of[name]), 0)
        assert drawn[name] == expected, f"{name}: OHIF drew {drawn[name]} voxels of {expected}"
    assert drawn[CLICKED] > 0, f"no {CLICKED} drawn: {drawn}"


def test_click_segments_the_clicked_structure(session):
    results = session.results
    interactive = results["interactive"]
    i, j, k = interactive["target"]["voxel"]
    answer = sitk.GetArrayFromImage(
        sitk.ReadImage(str(session.artifacts / f"{interactive['model']}.nrrd"))
    )
    assert answer[k, j, i], "the interactive answer does not contain the click"
    assert interactive["labelmap"]["dimensions"][2] == answer.shape[0]
    assert results["info"]["models"][interactive["model"]]["dimension"] == 2
    assert not np.delete(answer, k, axis=0).any(), "a 2D answer outside the clicked slice"
    # OHIF redraws the clicked structure on that slice from the answer, over what was empty
    # or that structure, and leaves the other structures as the automatic result drew them.
    automatic = results["automatic"]
    before = sitk.GetArrayFromImage(
        sitk.ReadImage(str(session.artifacts / f"{automatic['model']}.nrrd"))
    )[k]
    value = values_by_name(results["info"]["models"][automatic["model"]])[CLICKED]
    expected = np.count_nonzero(answer[k] & ((before == 0) | (before == value)))
    probe = interactive["labelmap"]["probe"]
    assert probe["value"] == interactive["target"]["segment"], "the click is not drawn"
    assert probe["sliceCount"] == expected, "OHIF's slice is not the answer"
    assert results["steps"][3] == "ohif-interactive"


def test_saved_label_is_a_seg_in_orthanc(session, tmp_path):
    save = session.results["save"]
    assert save["status"] == 200, save["body"]
    client = DICOMwebClient(url=session.pacs.dicomweb_url)
    segs = client.search_for_instances(
        study_instance_uid=session.knee.study, search_filters={"Modality": "SEG"}
    )
    assert len(segs) == 1, f"{len(segs)} SEG instances in Orthanc after one save"
    seg_uids = pydicom.Dataset.from_json(segs[0])
    seg = client.retrieve_instance(
        session.knee.study, seg_uids.SeriesInstanceUID, seg_uids.SOPInstanceUID
    )
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == session.knee.series
    path = tmp_path / "seg.dcm"
    seg.save_as(path)
    reference = series_volume(session.knee.files[0].parent)
    labels = read_seg_labels(path, reference)
    i, j, k = session.results["interactive"]["target"]["voxel"]
    assert np.asarray(labels.array)[k, j, i] == int(KneeLabel.FEMUR), "the click is not femur"


@pytest.fixture(scope="module")
def displayed(session, tmp_path_factory) -> dict[str, Any]:
    """Our SR on the saved SEG stored in Orthanc, then both opened in OHIF's basic viewer."""
    client = DICOMwebClient(url=session.pacs.dicomweb_url)
    found = client.search_for_instances(
        study_instance_uid=session.knee.study, search_filters={"Modality": "SEG"}
    )
    uids = pydicom.Dataset.from_json(found[0])
    seg = client.retrieve_instance(session.knee.study, uids.SeriesInstanceUID, uids.SOPInstanceUID)
    path = tmp_path_factory.mktemp("sr") / "seg.dcm"
    seg.save_as(path)
    reference = series_volume(session.knee.files[0].parent)
    labels = read_seg_labels(path, reference)
    result = measure_knee(labels)
    sr = make_measurement_report(result.measurements, seg, read_source_images(reference))
    client.store_instances([sr])
    results = run_browser("display", session.server, session.knee, session.artifacts)
    results["segment_labels"] = [item.SegmentLabel for item in seg.SegmentSequence]
    return results


def test_ohif_overlays_our_seg(displayed):
    seg = displayed["seg"]
    assert seg is not None, "OHIF loaded no segmentation from the SEG"
    assert sorted(seg["names"]) == sorted(displayed["segment_labels"])
    assert max(seg["perSlice"]) > 0, "the SEG overlay is empty"
    assert seg["perSlice"][seg["shown"]] == max(seg["perSlice"])
    assert displayed["errors"] == 0, "OHIF reported an error loading the SEG"


def test_ohif_takes_our_sr(displayed):
    handlers = {d["modality"]: d["handler"] for d in displayed["displaySets"]}
    assert handlers.get("SR", "").endswith("dicom-sr-3d"), handlers
    assert displayed["steps"][-1] == "ohif-sr"
