"""``msklabel embed`` and ``msklabel similar`` on slabs of the real sample knee (LiteMedSAM)
and of a phantom knee (a randomly initialised DINOv3)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msklabel.cli import main
from msklabel.io import read_volumes
from msklabel.io.checksum import file_digest
from msklabel.io.nifti import write_nifti
from msklabel.segment.backends.litemedsam import packaged_checkpoint
from msklabel.volume import Volume


@pytest.mark.slow
def test_embed_adds_to_an_index_and_similar_finds_the_nearest(sample, tmp_path, capsys):
    knee = read_volumes(sample.dicom_dir)[0]
    for name, first in (("middle", 11), ("near", 13), ("edge", 0)):
        slab = Volume(np.ascontiguousarray(knee.array[first : first + 2]), knee.affine)
        write_nifti(slab, tmp_path / f"{name}.nii.gz")
        status = main(
            [
                "embed", str(tmp_path / f"{name}.nii.gz"), "--out", str(tmp_path / name),
                "--index", str(tmp_path / "index"), "--id", name,
            ]
        )  # fmt: skip
        assert status == 0
    sidecar = json.loads((tmp_path / "middle" / "embedding.json").read_text())
    assert sidecar["weights_sha256"] == file_digest(packaged_checkpoint())
    assert sidecar["model_id"].startswith("litemedsam:") and sidecar["slices"] == [0, 1]
    assert "mean of the L2-normalised slice vectors" in sidecar["pooling"]

    capsys.readouterr()
    argv = ["similar", str(tmp_path / "middle"), "--index", str(tmp_path / "index"), "-k", "2"]
    assert main([*argv, "--id", "middle"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [row["id"] for row in found["similar"]] == ["near", "edge"]
    assert found["similar"][0]["similarity"] > found["similar"][1]["similarity"]
    assert found["similar"][0]["embedding"] == str(tmp_path / "near")


def test_similar_names_the_missing_part_of_an_embedding_folder(tmp_path, capsys):
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "embedding.json").write_text("{}")
    assert main(["similar", str(tmp_path / "e"), "--index", str(tmp_path / "index")]) == 2
    assert f"{tmp_path / 'e' / 'embedding.npz'}: no saved embedding" in capsys.readouterr().err


@pytest.mark.slow
def test_embed_and_similar_with_a_dinov3_checkpoint(
    embedder_checkpoints, knee_slab, tmp_path, capsys
):
    checkpoint = embedder_checkpoints["dinov3"]
    model = ["--model", "dinov3", "--checkpoint", checkpoint, "--device", "cpu"]
    index = str(tmp_path / "index")
    names = ("middle", "edge")
    for name, first in zip(names, (16, 2), strict=True):
        write_nifti(knee_slab(first, 2), tmp_path / f"{name}.nii.gz")
        argv = ["embed", str(tmp_path / f"{name}.nii.gz"), "--out", str(tmp_path / name)]
        assert main([*argv, "--index", index, "--id", name, *model]) == 0
    sidecar = json.loads((tmp_path / "middle" / "embedding.json").read_text())
    digest = file_digest(checkpoint)
    assert sidecar["weights_sha256"] == digest and sidecar["dimensions"] == 4 * 384
    assert sidecar["model_id"] == f"dinov3:vit_small_patch16_dinov3_qkvb:{digest[:16]}"

    capsys.readouterr()
    argv = ["similar", str(tmp_path / "middle.nii.gz"), "--index", index, "-k", "5"]
    assert main([*argv, "--id", "middle", *model]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["model_id"] == sidecar["model_id"]
    assert [row["id"] for row in found["similar"]] == ["edge"]
    middle, edge = (np.load(tmp_path / name / "embedding.npz")["study"] for name in names)
    expected = float(middle @ edge)  # the query, embedded again, is the stored study vector
    assert found["similar"][0]["similarity"] == pytest.approx(expected, abs=1e-4)

    argv = ["similar", str(tmp_path / "middle.nii.gz"), "--index", index, "--model", "ctfm"]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        "msklabel: error: the 'ctfm' model has no embedded weights: give its checkpoint file "
        "with --checkpoint PATH (Python: checkpoint=PATH)"
    )
