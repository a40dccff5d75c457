"""What identifies a model's cached results: the contents of the weights files it reads."""

from __future__ import annotations

import shutil

from msklabel.detect.automatic import default_weights as detector_weights
from msklabel.evaluation.models import ModelSpec
from msklabel.evaluation.prompts import PromptMode
from msklabel.kneeseg import default_weights

AUTOMATIC, DETECTOR, BOX = (PromptMode.parse(m) for m in ("automatic", "detector", "oracle-box"))


def test_shipped_networks_are_identified_by_their_contents_and_the_detector_by_its_own():
    kneeseg = ModelSpec("knee", "kneeseg", (AUTOMATIC,))
    assert kneeseg.weights_files(AUTOMATIC) == [default_weights()]
    litemedsam = ModelSpec("lite", "litemedsam", (DETECTOR, BOX))
    (packaged,) = litemedsam.weights_files(BOX)
    assert litemedsam.weights_files(DETECTOR) == [packaged, detector_weights()]
    assert litemedsam.fingerprint(BOX)["weights"] != litemedsam.fingerprint(DETECTOR)["weights"]


def test_a_checkpoint_is_identified_by_its_contents_not_its_path(tmp_path):
    first = tmp_path / "a.pt"
    shutil.copyfile(default_weights(), first)
    copy = tmp_path / "elsewhere" / "b.pt"
    copy.parent.mkdir()
    shutil.copyfile(first, copy)

    def spec(path):
        return ModelSpec("knee", "kneeseg", (AUTOMATIC,), checkpoint=path)

    assert spec(copy).fingerprint(AUTOMATIC) == spec(first).fingerprint(AUTOMATIC)
    with first.open("ab") as handle:  # retrained weights written over the same file
        handle.write(b"\0")
    assert spec(first).fingerprint(AUTOMATIC) != spec(copy).fingerprint(AUTOMATIC)
