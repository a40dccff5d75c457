"""The real MONAI Label server with the msklabel app on a local datastore, driven as Slicer does.

One server per module (startup is slow); the tests share its datastore in this order:
infers, concurrent sessions, then training and active learning (which save a label).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from monailabel.client import MONAILabelClient
from scipy import ndimage

from msklabel.features.store import load_embedding
from msklabel.io.nifti import read_nifti, write_nifti
from msklabel.kneeseg import load_segmenter, segment_knee
from msklabel.labels import BONES, KneeLabel
from msklabel.serve import MonaiLabelServer

pytestmark = pytest.mark.slow

MODEL = "litemedsam"
INFERS = {f"{MODEL}_interactive", f"{MODEL}_automatic", f"{MODEL}_propagation"}
KNEE_CLICK = [128, 100, 12]  # x (column), y (row), z (slice)
KNEE, SLAB, PHANTOM = "knee_mese_t2", "knee_slab", "phantom"


@pytest.fixture(scope="module")
def server(studies, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("model")
    with MonaiLabelServer(studies.folder, conf={"model_dir": str(model_dir)}) as running:
        yield running


@pytest.fixture(scope="module")
def client(server, tmp_path_factory) -> MONAILabelClient:
    return MONAILabelClient(server.url, tmpdir=str(tmp_path_factory.mktemp("results")))


def inner_point(mask: np.ndarray, z: int) -> list[int]:
    """``[x, y, z]`` of the voxel deepest inside ``mask`` on slice ``z``."""
    depth = ndimage.distance_transform_edt(mask[z])
    y, x = np.unravel_index(int(depth.argmax()), depth.shape)
    return [int(x), int(y), int(z)]


def roi_of(mask: np.ndarray, z: int) -> list[int]:
    """Slicer's ``roi`` ``[x0, x1, y0, y1, z0, z1]`` around ``mask`` on slice ``z``."""
    rows, columns = np.nonzero(mask[z])
    return [int(columns.min()), int(columns.max()), int(rows.min()), int(rows.max()), z, z]


def test_info_lists_the_three_infers_with_their_labels(client):
    info = client.info()
    assert set(info["models"]) >= INFERS
    for name in INFERS:
        labels = info["models"][name]["labels"]
        assert labels["femur"] == KneeLabel.FEMUR
        assert labels["lateral_meniscus"] == KneeLabel.LATERAL_MENISCUS
    assert info["models"][f"{MODEL}_interactive"]["type"] == "deepgrow"
    assert info["models"][f"{MODEL}_automatic"]["type"] == "segmentation"
    assert {MODEL, "detector"} <= set(info["trainers"])
    assert {"first", "random", "least_sure"} <= set(info["strategies"])
    assert info["datastore"]["total"] == 3


def test_interactive_clicks_give_a_mask_with_the_image_geometry(client, studies):
    image = studies.images[KNEE]
    params = {"label": "femur", "foreground": [KNEE_CLICK], "background": [], "slice": 12}
    path, result = client.infer(f"{MODEL}_interactive", KNEE, params)
    labels = read_nifti(path)
    assert labels.shape == image.shape
    np.testing.assert_allclose(labels.affine, image.affine, atol=1e-4)
    x, y, z = KNEE_CLICK
    assert labels.array[z, y, x] == 1
    assert set(np.flatnonzero(labels.array.any(axis=(1, 2)))) == {z}
    assert 50 < (labels.array == 1).sum() < 0.5 * image.shape[1] * image.shape[2]
    assert result["label_names"] == {"femur": 1}
    assert 0 < result["scores"]["femur"][str(z)] <= 1


def test_a_click_on_a_knee_structure_gives_all_of_it(client, studies, dice):
    """The knee network guides the click: inside its femur, the click asks for the box around
    that femur, not for the fragment LiteMedSAM outlines around a lone click (Dice 0.07)."""
    image = studies.images[KNEE]
    femur = segment_knee([image], load_segmenter(), progress=False).labels.array
    femur = femur == KneeLabel.FEMUR
    z = 12
    params = {"label": "femur", "foreground": [inner_point(femur, z)], "background": [], "slice": z}
    path, result = client.infer(f"{MODEL}_interactive", KNEE, params)
    mask = read_nifti(path).array == 1
    assert result["guide"]["used"] and result["guide"]["model_id"].startswith("kneeseg:")
    assert dice(mask[z], femur[z]) >= 0.8


def test_label_named_points_and_nrrd_output(client, studies):
    """Slicer's DeepEdit form: points per label name; an .nrrd uint8 result as Slicer asks."""
    truth = studies.phantom_truth
    femur, tibia = (
        inner_point(truth == KneeLabel.FEMUR, 15),
        inner_point(truth == KneeLabel.TIBIA, 15),
    )
    params = {
        "femur": [femur], "tibia": [tibia], "patella": [], "background": [], "label": "femur",
        "result_extension": ".nrrd", "result_dtype": "uint8",
    }  # fmt: skip
    path, result = client.infer(f"{MODEL}_interactive", PHANTOM, params)
    assert str(path).endswith(".nrrd")
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    assert array.dtype == np.uint8 and array.shape == truth.shape
    assert result["label_names"] == {"femur": 1, "tibia": 2}
    for value, (x, y, z) in ((1, femur), (2, tibia)):
        assert array[z, y, x] == value
        found = array == value
        assert (found & (truth == value)).sum() > 0.9 * found.sum(), "inside the clicked bone"


def test_propagation_fills_a_slice_range(client, studies, dice):
    truth = studies.phantom_truth == KneeLabel.PATELLA
    params = {"label": "patella", "roi": roi_of(truth, 12), "slice": 12}
    path, result = client.infer(f"{MODEL}_propagation", PHANTOM, params)
    mask = read_nifti(path).array == 1
    filled = np.flatnonzero(mask.any(axis=(1, 2)))
    assert 12 in filled and len(filled) >= 5
    assert np.array_equal(filled, np.arange(filled[0], filled[-1] + 1)), "a contiguous range"
    assert dice(mask[filled], truth[filled]) > 0.6
    assert len(result["scores"]["patella"]) == len(filled)
    # A knee structure: followed where the knee network places it (the shipped network here).
    assert result["guide"]["used"] and result["guide"]["model_id"].startswith("kneeseg:")


def test_automatic_infer_returns_a_multi_label_volume(client, studies):
    path, result = client.infer(f"{MODEL}_automatic", SLAB, {})
    labels = read_nifti(path)
    assert labels.shape == studies.images[SLAB].shape
    np.testing.assert_allclose(labels.affine, studies.images[SLAB].affine, atol=1e-4)
    found = set(np.unique(labels.array)) - {0}
    assert len(found) >= 2
    assert found <= set(result["label_names"].values())


def test_the_knee_network_infer_says_which_knee_and_how_it_knows(client, studies):
    """The knee network's infer on the sample's first echo (a NIfTI image: no header names
    the side, the fibula does)."""
    path, result = client.infer("knee_automatic", KNEE, {})
    labels = read_nifti(path)
    assert labels.shape == studies.images[KNEE].shape
    assert {int(bone) for bone in BONES} <= set(np.unique(labels.array))
    assert result["laterality"] == {"knee": "right", "from": "fibula"}


def test_two_sessions_on_two_images_at_once(client, studies, dice):
    """Concurrent requests on two images get exactly what each gets alone."""
    truth = studies.phantom_truth == KneeLabel.TIBIA
    requests = [
        (KNEE, {"label": "femur", "foreground": [KNEE_CLICK], "slice": KNEE_CLICK[2]}),
        (PHANTOM, {"label": "tibia", "roi": roi_of(truth, 12), "slice": 12}),
    ]
    alone = [read_nifti(client.infer(f"{MODEL}_interactive", *r)[0]).array for r in requests]
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(client.infer, f"{MODEL}_interactive", *r) for r in requests]
        together = [read_nifti(future.result()[0]).array for future in futures]
    for first, second, (image, _) in zip(alone, together, requests, strict=True):
        assert second.shape == studies.images[image].shape
        np.testing.assert_array_equal(first, second)
    assert dice(together[1][12] == 1, truth[12]) > 0.6


def _cartilage_requests(truth: np.ndarray) -> list[dict]:
    slices = np.flatnonzero((truth.sum(axis=(1, 2))) >= 10)
    chosen = slices[np.linspace(0, len(slices) - 1, 4).round().astype(int)]
    return [
        {"label": "femoral_cartilage", "roi": roi_of(truth, int(z)), "slice": int(z)}
        for z in chosen
    ]


def _masks(client, requests) -> tuple[np.ndarray, set[str]]:
    results = [client.infer(f"{MODEL}_interactive", PHANTOM, r) for r in requests]
    stacked = np.stack(
        [
            read_nifti(path).array[r["slice"]] == 1
            for (path, _), r in zip(results, requests, strict=True)
        ]
    )
    return stacked, {params["model_id"] for _, params in results}


def test_training_on_a_final_label_changes_and_improves_the_next_infer(
    client, studies, dice, tmp_path
):
    truth = studies.phantom_truth == KneeLabel.FEMORAL_CARTILAGE
    requests = _cartilage_requests(truth)
    slices = [r["slice"] for r in requests]
    before, before_ids = _masks(client, requests)

    label = studies.images[PHANTOM].with_array(np.where(truth, 4, 0).astype(np.uint8))
    write_nifti(label, tmp_path / "final.nii.gz")
    client.save_label(PHANTOM, str(tmp_path / "final.nii.gz"), tag="final")
    client.train_start(MODEL, {"max_steps": 10, "max_slices": 4})
    deadline = time.monotonic() + 900
    while (status := client.train_status())["status"] not in ("DONE", "ERROR"):
        assert time.monotonic() < deadline, "training did not finish"
        time.sleep(2)
    assert status["status"] == "DONE", status

    after, after_ids = _masks(client, requests)
    assert before_ids.isdisjoint(after_ids), "the next infer uses the new weights"
    assert not np.array_equal(before, after)
    assert dice(after, truth[slices]) > dice(before, truth[slices]) + 0.1
    info = client.info()
    assert info["trainers"][MODEL] and info["train_stats"][MODEL]["examples"] == 4
    # The phantom's id is outside the held-out share: no held-out label scores this round.
    (point,) = info["train_stats"][MODEL]["learning_curve"]
    assert point["training_labels"] == 1 and point["dice"] == {}
    assert point["reason"].startswith("none of the 1 final labels trained on is held out")
    assert point["trained_on"] == ["phantom"]
    assert point["weights_id"] in after_ids
    assert Path(info["train_stats"][MODEL]["learning_curve_plot"]).is_file()


def test_least_sure_strategy_explains_its_choice(client):
    """Runs after the training test: the phantom is labeled, the two knee images are not."""
    choice = client.next_sample("least_sure", {})
    assert choice["id"] in {KNEE, SLAB}
    assert "predicted IoU" in choice["explanation"]
    recorded = {
        image: client.datastore()["objects"][image]["image"]["info"]["msklabel_uncertainty"]
        for image in (KNEE, SLAB)
    }
    assert choice["uncertainty"] == pytest.approx(max(r["score"] for r in recorded.values()))
    assert recorded[choice["id"]]["score"] == pytest.approx(choice["uncertainty"])
    first = client.next_sample("first", {})
    assert first["id"] == KNEE and "first" in first["explanation"]


def test_diverse_strategy_picks_the_image_least_like_the_labeled_one(client, server):
    """Runs after the training test: the phantom is labeled, the two knee images are not."""
    choice = client.next_sample("diverse", {})
    kept = [
        load_embedding(sidecar.parent)
        for sidecar in Path(server.conf["model_dir"]).glob("embeddings/*/*/embedding.json")
    ]
    recorded = {sidecar["source"]["image"]: (found, sidecar) for found, sidecar in kept}
    assert set(recorded) == {KNEE, SLAB, PHANTOM}
    vectors = {image: found.study for image, (found, _) in recorded.items()}
    distance = {image: 1.0 - vectors[image] @ vectors[PHANTOM] for image in (KNEE, SLAB)}
    assert choice["id"] == max(distance, key=distance.get)
    assert choice["distance"] == pytest.approx(distance[choice["id"]], abs=1e-4)
    assert f"nearest labeled image, {PHANTOM}" in choice["explanation"]
    found, sidecar = recorded[KNEE]
    assert sidecar["source"]["slices"] == [6, 12, 18] and len(found.study) == 1024
    assert found.weights_sha256[:16] in found.model_id  # the fine-tuned weights now served
    info = client.datastore()["objects"][KNEE]["image"]["info"]
    assert sidecar["source"]["version"] == str(info["ts"])
    assert len(json.dumps(info)) < 1000, "vectors stay out of the datastore's record file"


def test_detector_training_uses_the_final_labels_with_their_images(client, studies):
    """Runs last: the published detector replaces the shipped one for the automatic infer."""
    client.train_start("detector", {"max_steps": 20, "batch_size": 2})
    deadline = time.monotonic() + 600
    while (status := client.train_status())["status"] not in ("DONE", "ERROR"):
        assert time.monotonic() < deadline, "training did not finish"
        time.sleep(2)
    assert status["status"] == "DONE", status
    report = client.info()["train_stats"]["detector"]
    assert report["labels"] == 1 and report["config"]["steps"] == 20
    # Every slice of the labelled (sagittal) phantom image is trained on.
    assert report["imaged_slices"] == studies.images[PHANTOM].shape[0]
