"""The app's ``-c key value`` options."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from msklabel.labeling.labelset import KNEE_STRUCTURES
from msklabel.labeling.options import AppOptions
from msklabel.segment import DEFAULT_RUNTIME


def test_defaults_serve_litemedsam_on_the_knee_set(tmp_path):
    options = AppOptions.from_conf({}, tmp_path)
    assert [spec.model for spec in options.models] == ["litemedsam"]
    assert options.models[0].checkpoint is None
    assert options.labelset.names == list(KNEE_STRUCTURES)
    assert options.model_dir == Path(tmp_path) / "model"
    assert options.dicomweb_filter == {"Modality": "MR"}
    assert options.device == torch.device("cpu")  # auto: the suite's MSKLABEL_DEVICE


def test_options_are_read(tmp_path):
    checkpoint = tmp_path / "mine.pth"
    checkpoint.write_bytes(b"weights")
    conf = {
        "models": "sam,medsam", "checkpoint": str(checkpoint), "variant": "vit_l",
        "labels": "quadriceps,hamstrings", "model_dir": str(tmp_path / "published"),
        "dicomweb_filter": '{"Modality": "MR", "BodyPartExamined": "KNEE"}',
    }  # fmt: skip
    options = AppOptions.from_conf(conf, tmp_path)
    first, second = options.models
    assert (first.model, first.checkpoint, first.variant) == ("sam", str(checkpoint), "vit_l")
    assert (second.model, second.checkpoint) == ("medsam", None)
    assert options.labelset.values == {"quadriceps": 2, "hamstrings": 3}  # thigh label values
    assert options.dicomweb_filter["BodyPartExamined"] == "KNEE"
    assert AppOptions.from_conf({"device": "cpu"}, tmp_path).device == torch.device("cpu")


def test_the_runtime_reaches_litemedsam_only(tmp_path):
    assert AppOptions.from_conf({}, tmp_path).models[0].runtime == DEFAULT_RUNTIME
    options = AppOptions.from_conf({"models": "litemedsam,sam", "runtime": "onnx"}, tmp_path)
    assert options.runtime == "onnx"
    assert [spec.runtime for spec in options.models] == ["onnx", "torch"]


@pytest.mark.parametrize(
    ("conf", "problem"),
    [
        ({"models": "unet"}, "-c models"),
        ({"checkpoint": "/no/such/file.pth"}, "-c checkpoint"),
        ({"labels": "femur,femur"}, "-c labels"),
        ({"dicomweb_filter": "{Modality"}, "-c dicomweb_filter"),
        ({"device": "gpu"}, "-c device: device 'gpu': unknown"),
        ({"device": "cuda:99"}, "-c device: device 'cuda:99'"),
        ({"runtime": "tvm"}, "-c runtime: unknown 'tvm'"),
    ],
)
def test_bad_options_name_their_key(conf, problem, tmp_path):
    with pytest.raises(ValueError, match=problem):
        AppOptions.from_conf(conf, tmp_path)
