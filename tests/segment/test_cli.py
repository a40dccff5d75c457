"""``msklabel segment`` on the real sample knee with the embedded LiteMedSAM."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from msklabel.cli import segment
from msklabel.io.nifti import read_nifti
from msklabel.segment import Box, LabelPrompt, save_prompts


@pytest.mark.slow
def test_segment_writes_labels_with_the_input_affine(sample_knee, tmp_path):
    from msklabel.data.sample import fetch_sample

    prompts = tmp_path / "prompts.json"
    save_prompts([LabelPrompt(3, boxes=[Box(12, 55, 37, 127, 72)])], prompts)
    parser = argparse.ArgumentParser()
    segment.register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "segment",
            str(fetch_sample().dicom_dir),
            "--out",
            str(tmp_path / "out"),
            "--prompts",
            str(prompts),
            "--echo-time",
            str(sample_knee.echo_time),
        ]
    )
    assert args.handler(args) == 0
    labels = read_nifti(tmp_path / "out" / "labels.nii.gz")
    np.testing.assert_allclose(labels.affine, sample_knee.affine, atol=1e-4)
    assert labels.shape == sample_knee.shape
    assert 1000 < (labels.array[12] == 3).sum() < 2000
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())["scores"]["3"]
    assert scores[12] > 0.8 and scores[11] is None
