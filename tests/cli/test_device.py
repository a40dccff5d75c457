"""``--device`` on every command that runs a model: same results on the CPU as the default,
one clear line for a device this machine lacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from msklabel.cli import build_parser, main
from msklabel.data.phantom import PhantomConfig, make_phantom
from msklabel.io.nifti import read_nifti, write_nifti
from msklabel.labels import KneeLabel
from msklabel.segment import Box, LabelPrompt, save_prompts

#: Every command that runs a model, with its required arguments.
COMMANDS = {
    ("segment",): ["in.nii.gz", "--out", "o", "--prompts", "p.json"],
    ("detect", "train"): ["--out", "d.pt"],
    ("detect", "evaluate"): ["--phantom", "1"],
    ("detect", "predict"): ["in.nii.gz"],
    ("kneeseg", "train"): ["--out", "k.pt"],
    ("kneeseg", "predict"): ["in.nii.gz", "--out", "o"],
    ("demo",): [],
    ("evaluate",): ["plan.toml", "--out", "o"],
    ("serve",): [],
    ("embed",): ["in.nii.gz", "--out", "o"],
    ("similar",): ["in.nii.gz", "--index", "i"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_every_model_command_takes_device_auto_by_default(command):
    parser = build_parser()
    assert parser.parse_args([*command, *COMMANDS[command]]).device == "auto"
    assert parser.parse_args([*command, *COMMANDS[command], "--device", "cpu"]).device == "cpu"


def test_listen_leaves_the_device_to_its_configuration_unless_given():
    parser = build_parser()
    assert parser.parse_args(["listen"]).device is None
    assert parser.parse_args(["listen", "--device", "cuda:1"]).device == "cuda:1"


@pytest.fixture(scope="module")
def phantom_case(tmp_path_factory) -> tuple[Path, Path]:
    """A small knee phantom (NIfTI) and a femur box prompt on its middle slice."""
    folder = tmp_path_factory.mktemp("phantom")
    config = PhantomConfig(spacing=(4.0, 0.8, 0.8), echo_times=(30.0,), supersampling=1)
    phantom = make_phantom(config)
    image = folder / "knee.nii.gz"
    write_nifti(phantom.echoes[0], image)
    index = phantom.labels.shape[0] // 2
    box = Box.around(phantom.labels.array[index] == KneeLabel.FEMUR, index, 2.0)
    prompts = folder / "prompts.json"
    save_prompts([LabelPrompt(KneeLabel.FEMUR, boxes=[box])], prompts)
    return image, prompts


@pytest.mark.slow
def test_segment_on_the_cpu_gives_the_default_result(phantom_case, tmp_path):
    image, prompts = phantom_case
    found = {}
    for name, extra in (("default", []), ("cpu", ["--device", "cpu"])):
        out = tmp_path / name
        assert (
            main(["segment", str(image), "--out", str(out), "--prompts", str(prompts), *extra]) == 0
        )
        found[name] = read_nifti(out / "labels.nii.gz").array
    assert (found["cpu"] == KneeLabel.FEMUR).sum() > 500
    np.testing.assert_array_equal(found["cpu"], found["default"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.parametrize(
    "command",
    [("segment",), ("kneeseg", "predict"), ("detect", "predict"), ("demo",), ("serve",)],
    ids=" ".join,
)
def test_a_gpu_this_machine_lacks_is_one_clear_line(command, phantom_case, tmp_path, capsys):
    image, prompts = phantom_case
    arguments = {
        ("segment",): [str(image), "--out", str(tmp_path), "--prompts", str(prompts)],
        ("kneeseg", "predict"): [str(image), "--out", str(tmp_path)],
        ("detect", "predict"): [str(image), "--out", str(tmp_path)],
        ("demo",): ["--out", str(tmp_path)],
        ("serve",): [],
    }[command]
    assert main([*command, *arguments, "--device", "cuda"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("msklabel: error: device 'cuda': torch sees no CUDA GPU")
    assert "Traceback" not in error and not list(tmp_path.iterdir())
