"""The app on a real Orthanc through DICOMweb, logged in with MONAI Label's own login settings
(HTTP basic): MR series listed, final labels stored as SEG."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import highdicom as hd
import numpy as np
import pytest
from monailabel.client import MONAILabelClient

from msklabel.dicom.seg import read_seg_labels
from msklabel.io import read_volumes
from msklabel.io.nifti import read_nifti
from msklabel.labeling.studies import DICOMWEB_PASSWORD_SETTING, DICOMWEB_USER_SETTING
from msklabel.serve import MonaiLabelServer
from msklabel.testing.orthanc import OrthancServer

pytestmark = pytest.mark.slow

MODEL = "litemedsam"
USER, PASSWORD = "annotation", "pw-0b7e41c9d2"
CLICK = [128, 100, 12]  # x (column), y (row), z (slice)


@pytest.fixture(scope="module")
def knee(sample):
    """The first echo of the sample series, as the app labels it."""
    return read_volumes(sample.dicom_dir)[0]


@pytest.fixture(scope="module")
def pacs(sample):
    """A real Orthanc holding the sample study (192 MR instances, 8 echoes); every request
    needs a login."""
    with OrthancServer(users={USER: PASSWORD}) as orthanc:
        for path in sorted(sample.dicom_dir.iterdir()):
            request = orthanc.request("/instances", data=path.read_bytes())
            urllib.request.urlopen(request, timeout=30).read()
        yield orthanc


@pytest.fixture(scope="module")
def client(pacs, tmp_path_factory) -> MONAILabelClient:
    conf = {"model_dir": str(tmp_path_factory.mktemp("model"))}
    env = {
        "MONAI_LABEL_DICOMWEB_CACHE_PATH": str(tmp_path_factory.mktemp("cache")),
        DICOMWEB_USER_SETTING: USER,
        DICOMWEB_PASSWORD_SETTING: PASSWORD,
    }
    with MonaiLabelServer(pacs.dicomweb_url, conf=conf, env=env) as server:
        yield MONAILabelClient(server.url, tmpdir=str(tmp_path_factory.mktemp("results")))
        assert PASSWORD not in server.log_text()


def seg_instances(pacs: OrthancServer) -> list[str]:
    """Orthanc ids of the SEG instances stored."""
    return [
        instance
        for instance in pacs.get("/instances")
        if pacs.get(f"/instances/{instance}/simplified-tags")["Modality"] == "SEG"
    ]


def test_lists_the_mr_series_through_dicomweb(client, knee):
    assert client.info()["datastore"]["total"] == 1
    choice = client.next_sample("first", {})
    assert choice["id"] == knee.series_instance_uid
    assert choice["Modality"] == "MR"


def test_final_label_goes_to_orthanc_as_a_binary_seg(client, pacs, knee, tmp_path):
    series = knee.series_instance_uid
    params = {"label": "femur", "foreground": [CLICK], "slice": CLICK[2]}
    path, _ = client.infer(f"{MODEL}_interactive", series, params)
    labels = read_nifti(path)
    assert labels.shape == knee.shape
    np.testing.assert_allclose(labels.affine, knee.affine, atol=1e-3)
    x, y, z = CLICK
    assert labels.array[z, y, x] == 1

    assert seg_instances(pacs) == []
    client.save_label(
        series, path, tag="final", params={"label_info": [{"name": "femur", "idx": 1}]}
    )
    (stored,) = seg_instances(pacs)
    seg_file = tmp_path / "seg.dcm"
    with urllib.request.urlopen(pacs.request(f"/instances/{stored}/file"), timeout=30) as response:
        seg_file.write_bytes(response.read())

    run = subprocess.run(["dciodvfy", str(seg_file)], capture_output=True, text=True, check=False)
    assert [line for line in (run.stdout + run.stderr).splitlines() if "Error" in line] == []
    seg = hd.seg.segread(seg_file)
    assert seg.segmentation_type == hd.seg.SegmentationTypeValues.BINARY
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series
    assert seg.StudyInstanceUID == knee.study_instance_uid
    assert [item.SegmentLabel for item in seg.SegmentSequence] == ["femur"]
    back = read_seg_labels(seg_file, knee)
    np.testing.assert_array_equal(back.array, labels.array)

    status = client.info()["datastore"]
    assert status == {**status, "total": 1, "completed": 1}, "the SEG is a label, not an image"


def test_final_labels_are_the_training_set(client, knee):
    """Runs after the SEG test: the datastore's training list holds the saved label."""
    with urllib.request.urlopen(f"{client.get_server_url()}/datastore/?output=train") as reply:
        (item,) = json.loads(reply.read())
    assert read_nifti(item["image"]).shape == knee.shape
    label = read_nifti(item["label"]).array
    x, y, z = CLICK
    assert label[z, y, x] == 1 and set(np.unique(label)) == {0, 1}
