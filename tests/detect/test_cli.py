"""``msklabel detect``: predict boxes, evaluate on a phantom, refuse bad requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msklabel.cli import main
from msklabel.detect.detector import Detector
from msklabel.detect.presets import held_out_phantom
from msklabel.detect.training import MIN_STEPS
from msklabel.io.nifti import write_nifti
from msklabel.labels import KneeLabel
from msklabel.segment import load_prompts


@pytest.mark.slow
def test_predict_writes_detected_boxes_as_a_prompts_file(tmp_path: Path) -> None:
    image, truth = held_out_phantom(102, 3.0)
    write_nifti(image, tmp_path / "knee.nii.gz")
    assert (
        main(
            [
                "detect",
                "predict",
                str(tmp_path / "knee.nii.gz"),
                "--boxes-only",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    prompts = {p.label: p for p in load_prompts(tmp_path / "out" / "prompts.json")}
    assert {KneeLabel.FEMUR, KneeLabel.TIBIA, KneeLabel.PATELLA} <= set(prompts)
    femur_slices = prompts[KneeLabel.FEMUR].slices()
    true_slices = [k for k in range(truth.shape[0]) if (truth.array[k] == KneeLabel.FEMUR).any()]
    assert femur_slices == list(range(femur_slices[0], femur_slices[-1] + 1))  # contiguous
    assert len(set(femur_slices) & set(true_slices)) >= 0.9 * len(true_slices)
    assert not (tmp_path / "out" / "labels.nii.gz").exists()


@pytest.mark.slow
def test_evaluate_reports_recall_and_precision_per_structure(tmp_path: Path, capsys) -> None:
    report = tmp_path / "report.json"
    assert main(["detect", "evaluate", "--phantom", "103", "--no-dice", "--out", str(report)]) == 0
    table = capsys.readouterr().out
    assert "recall" in table and "femoral_cartilage" in table
    result = json.loads(report.read_text())
    assert set(result) == {label.key for label in list(KneeLabel)[:9]}
    assert 0.5 <= result["tibia"]["recall"] <= 1.0
    assert result["tibia"]["true_positives"] + result["tibia"]["false_negatives"] > 10


def test_train_without_data_and_evaluate_without_truth_are_clear_errors(
    tmp_path: Path, capsys
) -> None:
    assert main(["detect", "train", "--out", str(tmp_path / "d.pt")]) == 2
    assert "nothing to train on" in capsys.readouterr().err
    assert main(["detect", "evaluate", "--no-dice"]) == 2
    assert "--phantom" in capsys.readouterr().err
    assert main(["detect", "predict", str(tmp_path / "missing.nii.gz"), "--boxes-only"]) == 2


@pytest.mark.slow
def test_train_on_label_maps_with_their_images(tmp_path: Path, capsys) -> None:
    image, truth = held_out_phantom(102, 3.0)
    write_nifti(image, tmp_path / "knee.nii.gz")
    write_nifti(truth, tmp_path / "knee_labels.nii.gz")
    pair = ["--labels", str(tmp_path / "knee_labels.nii.gz"), "--images"]
    out = tmp_path / "d.pt"
    assert main(["detect", "train", *pair, str(tmp_path / "knee.nii.gz"), "--steps",
                 str(MIN_STEPS), "--context", "2", "--out", str(out)]) == 0  # fmt: skip
    detector = Detector.load(out)
    info = detector.info
    assert info["imaged_slices"] == truth.shape[0] and info["volumes"] == 1
    assert "--images knee.nii.gz" in info["command"]
    assert detector.network.context == info["config"]["context"] == 2
    assert main(["detect", "train", *pair, str(tmp_path / "knee.nii.gz"), "--context", "-1",
                 "--out", str(out)]) == 2  # fmt: skip
    assert "context must be 0 or more" in capsys.readouterr().err
    twice = [str(tmp_path / "knee.nii.gz")] * 2
    assert main(["detect", "train", *pair, *twice, "--out", str(out)]) == 2
    assert "2 --images for 1 --labels" in capsys.readouterr().err
