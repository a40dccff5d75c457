"""The held-out share and the learning curve: the rule, the file and plot, and a real round of
fine-tuning (LiteMedSAM) and of the knee network scored on a held-out phantom."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from msklabel.data.phantom import PhantomConfig, make_phantom
from msklabel.io.nifti import write_nifti
from msklabel.labeling.curve import (
    HELD_OUT_SHARE,
    LearningCurve,
    held_out_dice,
    image_id,
    is_held_out,
    record_round,
    split_held_out,
    training_share,
)
from msklabel.labels import KneeLabel

#: Image ids on either side of the rule (checked below): one trained on, one held out.
TRAINED, HELD = "knee2", "case-3"
STRUCTURES = {"femur": int(KneeLabel.FEMUR), "femoral_cartilage": int(KneeLabel.FEMORAL_CARTILAGE)}


def test_the_held_out_share_is_fixed_by_the_image_id():
    assert not is_held_out(TRAINED) and is_held_out(HELD)
    ids = [f"1.2.826.0.1.{k}" for k in range(4000)]
    share = np.mean([is_held_out(i) for i in ids])
    assert abs(share - HELD_OUT_SHARE) < 0.02
    assert [is_held_out(i) for i in ids] == [is_held_out(i) for i in ids]
    assert image_id("/data/studies/case-3.nii.gz") == "case-3" == image_id("case-3.nii")
    pairs = [(f"/s/{TRAINED}.nii.gz", "/s/l/a.nii.gz"), (f"/s/{HELD}.nii.gz", "/s/l/b.nii.gz")]
    assert split_held_out(pairs) == ([pairs[0]], [pairs[1]])
    assert split_held_out(pairs, trained_before={HELD}) == (pairs, [])


def test_a_first_label_in_the_held_out_share_is_trained_on_and_never_held_out_after(tmp_path):
    """A datastore's only final label falls in the held-out share: the round trains on it
    (refusing would stop a new annotator's first training), and once trained on it stays
    out of the held-out share, so later points are scored on images no round has seen."""
    curve = LearningCurve(tmp_path, "litemedsam")
    first = [(f"/s/{HELD}.nii.gz", "/s/l/b.nii.gz")]
    train, held = training_share(first, curve)
    assert (train, held) == (first, [])
    point = record_round(curve, "w1", train, held, lambda image, reference: None, STRUCTURES)
    assert point["trained_on"] == [HELD] and point["held_out_labels"] == 0
    assert "none of the 1 final labels trained on is held out" in point["reason"]
    other_held = next(f"case-{k}" for k in range(4, 400) if is_held_out(f"case-{k}"))
    later = [*first, (f"/s/{TRAINED}.nii.gz", "/s/l/a.nii.gz"), (f"/s/{other_held}.nii", "/l")]
    assert training_share(later, curve) == (later[:2], later[2:])
    assert training_share(later) == (later[1:2], [later[0], later[2]])  # without the history


def test_the_curve_is_kept_and_drawn_and_a_round_without_held_out_labels_says_why(tmp_path):
    curve = LearningCurve(tmp_path, "litemedsam")
    trained = [(f"/s/knee{k}.nii.gz", "/s/l.nii.gz") for k in range(3)]
    skipped = record_round(curve, "w1", trained, [], lambda image, reference: None, STRUCTURES)
    assert skipped["dice"] == {} and skipped["held_out_labels"] == 0
    assert "none of the 3 final labels trained on is held out (20% of" in skipped["reason"]
    assert curve.trained_ids() == {"knee0", "knee1", "knee2"}
    second = curve.add("w2", ["knee0", "knee1", "knee2", "knee3"], 1, {"femur": 0.9})
    assert (second["round"], second["reason"]) == (2, None)
    saved = json.loads((tmp_path / "litemedsam.curve.json").read_text())
    assert (
        [p["weights_id"] for p in saved]
        == ["w1", "w2"]
        == [p["weights_id"] for p in curve.points()]
    )
    assert (tmp_path / "litemedsam.curve.png").read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def datastore(tmp_path_factory):
    """Two phantom knees saved as a MONAI Label datastore with final labels: one trained on,
    one held out; returns the (image, label) pairs and the held-out truth."""
    folder = tmp_path_factory.mktemp("studies")
    final = folder / "labels" / "final"
    final.mkdir(parents=True)
    pairs, truth = [], None
    for seed, name in enumerate((TRAINED, HELD)):
        phantom = make_phantom(PhantomConfig(seed=seed, spacing=(10.0, 2.0, 2.0), fov_mm=140,
                                             echo_times=(30.0,), supersampling=1))  # fmt: skip
        write_nifti(phantom.echoes[0], folder / f"{name}.nii.gz")
        labels = np.where(np.isin(phantom.labels.array, list(STRUCTURES.values())),
                          phantom.labels.array, 0).astype(np.uint8)  # fmt: skip
        write_nifti(phantom.labels.with_array(labels), final / f"{name}.nii.gz")
        pairs.append((folder / f"{name}.nii.gz", final / f"{name}.nii.gz"))
        truth = labels
    return pairs, truth


@pytest.mark.slow
def test_held_out_dice_is_the_mean_dice_of_what_the_model_made(datastore, dice):
    pairs, truth = datastore
    femur = truth == KneeLabel.FEMUR
    eroded = ndimage.binary_erosion(femur, iterations=2)

    def segment(image, reference):
        return np.where(femur & ~eroded, 0, reference.array)

    scores = held_out_dice(pairs[1:], segment, STRUCTURES)
    assert scores == pytest.approx({"femur": dice(eroded, femur), "femoral_cartilage": 1.0})
    assert scores["femur"] < 0.95


@pytest.mark.slow
def test_a_fine_tuning_round_trains_without_the_held_out_image_and_scores_it(
    datastore, tmp_path, monkeypatch
):
    from msklabel.labeling import training
    from msklabel.labeling.models import ModelSpec, ModelStore
    from msklabel.segment.finetune import FinetuneConfig

    pairs, _ = datastore
    seen = []
    collect = training.training_slices
    monkeypatch.setattr(training, "training_slices",
                        lambda p, *a: seen.append(list(p)) or collect(p, *a))  # fmt: skip
    store = ModelStore(ModelSpec(), tmp_path, "litemedsam", device="cpu")
    config = FinetuneConfig(steps=2, batch_size=2)
    report = training.train_and_publish(store, pairs, STRUCTURES, config, max_slices=4)
    assert seen == [pairs[:1]] and report["images"] == 1  # the held-out image is not trained on
    (point,) = store.curve.points()
    assert point["weights_id"] == store.segmenter().backend.model_id == report["model_id"]
    assert (point["round"], point["training_labels"], point["held_out_labels"]) == (1, 1, 1)
    assert set(point["dice"]) == set(STRUCTURES) and point["reason"] is None
    assert point["dice"]["femur"] > 0.5  # oracle boxes find the bone
    assert store.curve.plot_path == tmp_path / "litemedsam.curve.png"
    assert store.curve.plot_path.is_file()


@pytest.mark.slow
def test_a_knee_network_round_is_scored_on_the_held_out_image(datastore, tmp_path):
    from msklabel.kneeseg.training import TrainConfig
    from msklabel.labeling.models import KneeSegStore
    from msklabel.labeling.training import train_kneeseg_and_publish

    pairs, _ = datastore
    store = KneeSegStore(tmp_path, device="cpu")
    report = train_kneeseg_and_publish(store, pairs, TrainConfig(steps=20, batch_size=1))
    assert report["labels"] == 1
    (point,) = store.curve.points()
    assert point["weights_id"] == store.segmenter().model_id != "kneeseg:new"
    assert (point["training_labels"], point["held_out_labels"]) == (1, 1)
    assert set(point["dice"]) == set(STRUCTURES)  # what the held-out label map holds
    assert all(0 <= value <= 1 for value in point["dice"].values())
