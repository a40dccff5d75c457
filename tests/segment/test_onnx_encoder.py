"""The ONNX Runtime image encoder: accuracy against fp32 torch (embeddings, masks on phantom
and sample bones, scores), the on-disk graph cache, and the fall-back to torch."""

from __future__ import annotations

import copy
import logging
import sys

import numpy as np
import pytest
import torch

from msklabel.labels import KneeLabel
from msklabel.segment import Box, LabelPrompt, Segmenter, load_backend
from msklabel.segment.backends import onnx_encoder

pytest.importorskip("onnxruntime")

#: Boxes (row_min, column_min, row_max, column_max) around the bones on the sample's slice 12.
SAMPLE_BOXES = {
    KneeLabel.FEMUR: (0, 80, 130, 148),
    KneeLabel.TIBIA: (147, 90, 255, 175),
    KneeLabel.PATELLA: (55, 37, 127, 72),
}


@pytest.fixture
def graph_cache(tmp_path, monkeypatch):
    """An empty msklabel cache folder, and no fall-back reason reported yet."""
    monkeypatch.setenv("MSKLABEL_CACHE", str(tmp_path))
    monkeypatch.setattr(onnx_encoder, "_reported", set())
    return tmp_path / "onnx"


@pytest.fixture(scope="module")
def onnx_backend():
    """LiteMedSAM with its encoder in ONNX Runtime (the graph exported into msklabel's cache on
    the first run, as in production)."""
    return load_backend("litemedsam", device="cpu", runtime="onnx")


def tiny_encoder(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.GELU()).eval()


@pytest.fixture
def exports(monkeypatch) -> list:
    """The graph paths exported while the test runs."""
    made = []
    export = onnx_encoder.export_encoder

    def counted(encoder, size, path):
        made.append(path)
        export(encoder, size, path)

    monkeypatch.setattr(onnx_encoder, "export_encoder", counted)
    return made


def test_a_second_encoder_with_the_same_weights_reuses_the_cached_graph(graph_cache, exports):
    cpu = torch.device("cpu")
    first = onnx_encoder.onnx_encoder(tiny_encoder(), 16, cpu, "fp32")
    assert first is not None and exports == [first.path]
    stamp = first.path.stat().st_mtime_ns
    second = onnx_encoder.onnx_encoder(tiny_encoder(), 16, cpu, "fp32")
    assert second.path == first.path and len(exports) == 1
    assert first.path.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in graph_cache.iterdir()) == [first.path.name]  # no partial file
    inputs = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        expected = tiny_encoder()(inputs)
    torch.testing.assert_close(second(inputs), expected, atol=1e-5, rtol=1e-4)


def test_changed_weights_export_a_new_graph(graph_cache, exports):
    cpu = torch.device("cpu")
    encoder = tiny_encoder()
    first = onnx_encoder.onnx_encoder(encoder, 16, cpu, "fp32")
    with torch.no_grad():
        encoder[0].bias[0] += 0.5
    second = onnx_encoder.onnx_encoder(encoder, 16, cpu, "fp32")
    assert second.path != first.path and exports == [first.path, second.path]
    inputs = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        expected = encoder(inputs)
    torch.testing.assert_close(second(inputs), expected, atol=1e-5, rtol=1e-4)


def test_a_graph_stands_for_its_encoder_not_for_a_copy_in_training(graph_cache):
    encoder = tiny_encoder()
    graph = onnx_encoder.onnx_encoder(encoder, 16, torch.device("cpu"), "fp32")
    assert graph.serves(encoder) and not graph.serves(copy.deepcopy(encoder))


def test_missing_onnxruntime_falls_back_to_torch_with_the_reason_logged_once(
    graph_cache, monkeypatch, caplog
):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    with caplog.at_level(logging.WARNING, onnx_encoder.__name__):
        for _ in range(2):
            assert (
                onnx_encoder.onnx_encoder(tiny_encoder(), 16, torch.device("cpu"), "fp32") is None
            )
    (record,) = caplog.records
    assert "runs in torch: onnxruntime is not installed" in record.getMessage()
    assert not graph_cache.exists()


def test_a_failed_export_falls_back_and_leaves_no_file(graph_cache, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with caplog.at_level(logging.WARNING, onnx_encoder.__name__):
        assert onnx_encoder.onnx_encoder(tiny_encoder(), 16, torch.device("cpu"), "fp32") is None
    assert "RuntimeError: unsupported operator" in caplog.text
    assert list(graph_cache.iterdir()) == []


@pytest.mark.parametrize(
    ("device", "precision", "reason"),
    [("cuda", "fp32", "serves the CPU only"), ("cpu", "bf16", "fp32 only, not bf16")],
)
def test_other_devices_and_precisions_run_in_torch(graph_cache, caplog, device, precision, reason):
    with caplog.at_level(logging.WARNING, onnx_encoder.__name__):
        assert (
            onnx_encoder.onnx_encoder(tiny_encoder(), 16, torch.device(device), precision) is None
        )
    assert reason in caplog.text


def test_an_unknown_runtime_is_refused():
    with pytest.raises(ValueError, match="unknown runtime 'tvm'"):
        load_backend("litemedsam", device="cpu", runtime="tvm")
    with pytest.raises(ValueError, match="the sam backend runs in torch only"):
        load_backend("sam", "unused.pth", device="cpu", runtime="onnx")


@pytest.mark.slow
def test_the_backend_without_onnxruntime_runs_in_torch(graph_cache, monkeypatch, litemedsam):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    backend = load_backend("litemedsam", device="cpu", runtime="onnx")
    assert backend.runtime == "torch" and backend.model_id == litemedsam.model_id


@pytest.mark.slow
def test_onnx_embeddings_match_torch_under_their_own_cache_key(
    segmenter, onnx_backend, sample_knee
):
    assert onnx_backend.runtime == "onnx"
    assert onnx_backend.model_id == f"{segmenter.backend.model_id}:onnx"
    (torch_embedding,) = segmenter.session(sample_knee).embeddings([12])
    (onnx_embedding,) = Segmenter(onnx_backend).session(sample_knee).embeddings([12])
    assert onnx_embedding.dtype == torch.float32 and onnx_embedding.shape == torch_embedding.shape
    relative = float((onnx_embedding - torch_embedding).norm() / torch_embedding.norm())
    print(f"relative difference {relative:.2e}")
    assert relative < 1e-4


def _compare(segmenter, onnx_backend, volume, prompts, slices, dice) -> None:
    """Masks and scores of the ONNX encoder against fp32 torch's (``segmenter``: the session's
    LiteMedSAM, whose cache may already hold the torch embeddings)."""
    found = {
        "torch": segmenter.segment(volume, prompts),
        "onnx": Segmenter(onnx_backend).segment(volume, prompts),
    }
    for prompt in prompts:
        label = prompt.label
        torch_mask, onnx_mask = (found[name].mask(label)[slices] for name in ("torch", "onnx"))
        score = dice(onnx_mask, torch_mask)
        gap = np.abs(found["onnx"].scores[label] - found["torch"].scores[label])[slices].max()
        print(f"label {label}: Dice onnx vs torch {score:.4f}, score gap {gap:.5f}")
        assert torch_mask.sum() > 100, label
        assert score >= 0.99, label
        assert gap <= 0.01, label


@pytest.mark.slow
def test_onnx_masks_match_torch_on_phantom_bones(
    segmenter, onnx_backend, knee_phantom, phantom_bone_boxes, dice
):
    slices, prompts = phantom_bone_boxes(2)
    _compare(segmenter, onnx_backend, knee_phantom.echoes[0], prompts, slices, dice)


@pytest.mark.slow
def test_onnx_masks_match_torch_on_the_sample_knee_bones(
    segmenter, onnx_backend, sample_knee, dice
):
    slices = [12]
    prompts = [
        LabelPrompt(bone, boxes=[Box(k, *box) for k in slices])
        for bone, box in SAMPLE_BOXES.items()
    ]
    _compare(segmenter, onnx_backend, sample_knee, prompts, slices, dice)


@pytest.mark.slow
def test_a_copy_being_fine_tuned_encodes_in_torch(onnx_backend):
    trained = copy.copy(onnx_backend)  # as msklabel.segment.finetune does
    trained.network = copy.deepcopy(onnx_backend.network)
    assert onnx_backend.runtime == "onnx" and trained.runtime == "torch"
