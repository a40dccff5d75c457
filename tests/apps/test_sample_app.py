"""The thigh sample app: the msklabel app with a team's checkpoint and label set."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from monailabel.client import MONAILabelClient

from msklabel.io.nifti import read_nifti
from msklabel.labels import ThighLabel
from msklabel.segment.backends.litemedsam import packaged_checkpoint
from msklabel.serve import DEFAULT_APP, MonaiLabelServer

pytestmark = pytest.mark.slow

THIGH_APP = DEFAULT_APP.parents[1] / "sample-apps" / "thigh_sam"


def test_sample_app_serves_its_labels_with_the_team_checkpoint(studies, tmp_path):
    """``$THIGH_SAM_CHECKPOINT`` names the team's weights (here LiteMedSAM's, for speed)."""
    checkpoint = tmp_path / "team.pth"
    shutil.copyfile(packaged_checkpoint(), checkpoint)
    conf = {"models": "litemedsam", "model_dir": str(tmp_path / "model")}
    env = {"THIGH_SAM_CHECKPOINT": str(checkpoint)}
    with MonaiLabelServer(studies.folder, conf=conf, env=env, app=THIGH_APP) as server:
        client = MONAILabelClient(server.url, tmpdir=str(tmp_path))
        info = client.info()
        assert info["labels"] == [label.key for label in sorted(ThighLabel)]
        labels = info["models"]["litemedsam_interactive"]["labels"]
        assert labels == {label.key: int(label) for label in ThighLabel}
        assert set(info["models"]) == {"litemedsam_interactive", "litemedsam_propagation"}
        # least_sure needs the knee detector; diverse needs only the model's encoder
        assert set(info["strategies"]) == {"diverse", "first", "random"}
        params = {"label": "quadriceps", "roi": [60, 120, 40, 100, 12, 12]}
        path, result = client.infer("litemedsam_interactive", studies.knee, params)
    labels = read_nifti(path)
    assert labels.shape == studies.images[studies.knee].shape
    assert result["label_names"] == {"quadriceps": 1}
    assert np.flatnonzero(labels.array.any(axis=(1, 2))).tolist() == [12]
