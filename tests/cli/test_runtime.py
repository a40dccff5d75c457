"""``--runtime`` on the commands that run LiteMedSAM: the library's choices and default, and the
same labels from either runtime."""

from __future__ import annotations

import json

import pytest

from msklabel.cli import build_parser, main
from msklabel.cli.runtime import CHOICES, runtime_of
from msklabel.data.phantom import PhantomConfig, make_phantom
from msklabel.io.nifti import read_nifti, write_nifti
from msklabel.labels import KneeLabel
from msklabel.segment import DEFAULT_RUNTIME, RUNTIMES, Box, LabelPrompt, save_prompts

#: The commands that run LiteMedSAM, with their required arguments.
COMMANDS = {
    ("segment",): ["in.nii.gz", "--out", "o", "--prompts", "p.json"],
    ("detect", "evaluate"): ["--phantom", "1"],
    ("detect", "predict"): ["in.nii.gz"],
    ("serve",): [],
}


def test_the_choices_are_the_library_runtimes():
    assert CHOICES == RUNTIMES


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_commands_take_a_runtime_and_default_to_the_library_one(command):
    parser = build_parser()
    assert runtime_of(parser.parse_args([*command, *COMMANDS[command]])) == DEFAULT_RUNTIME
    chosen = parser.parse_args([*command, *COMMANDS[command], "--runtime", "onnx"])
    assert runtime_of(chosen) == "onnx"
    with pytest.raises(SystemExit):
        parser.parse_args([*command, *COMMANDS[command], "--runtime", "tvm"])


def test_a_model_without_that_runtime_is_one_line_of_error(tmp_path, capsys):
    image, prompts = tmp_path / "in.nii.gz", tmp_path / "p.json"
    command = ["segment", str(image), "--out", str(tmp_path / "o"), "--prompts", str(prompts)]
    code = main([*command, "--model", "sam", "--checkpoint", str(image), "--runtime", "onnx"])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error == "msklabel: error: the sam backend runs in torch only, not 'onnx'", error


@pytest.mark.slow
def test_segment_gives_the_same_labels_in_either_runtime(tmp_path, dice):
    pytest.importorskip("onnxruntime")
    config = PhantomConfig(spacing=(4.0, 0.8, 0.8), echo_times=(30.0,), supersampling=1)
    phantom = make_phantom(config)
    image, prompts = tmp_path / "knee.nii.gz", tmp_path / "prompts.json"
    write_nifti(phantom.echoes[0], image)
    index = phantom.labels.shape[0] // 2
    box = Box.around(phantom.labels.array[index] == KneeLabel.FEMUR, index, 2.0)
    save_prompts([LabelPrompt(KneeLabel.FEMUR, boxes=[box])], prompts)
    found = {}
    for runtime in RUNTIMES:
        out = tmp_path / runtime
        command = ["segment", str(image), "--out", str(out), "--prompts", str(prompts)]
        assert main([*command, "--device", "cpu", "--runtime", runtime]) == 0
        model = json.loads((out / "scores.json").read_text())["model"]
        found[runtime] = read_nifti(out / "labels.nii.gz").array
        assert model.endswith(":onnx") == (runtime == "onnx"), model
    assert found["torch"].sum() > 100
    assert dice(found["onnx"] > 0, found["torch"] > 0) >= 0.99
