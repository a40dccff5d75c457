"""Fixtures for the segmentation tests: the LiteMedSAM segmenter, phantoms and the sample knee."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.data.phantom import Phantom, PhantomConfig, make_phantom
from msklabel.data.sample import fetch_sample
from msklabel.io import read_volumes
from msklabel.labels import BONES
from msklabel.segment import Box, EmbeddingCache, LabelPrompt, Segmenter
from msklabel.testing.checkpoints import random_checkpoints
from msklabel.volume import Volume


@pytest.fixture(scope="session")
def segmenter(litemedsam) -> Segmenter:
    """A LiteMedSAM segmenter whose cache lives for the whole test session."""
    return Segmenter(litemedsam, EmbeddingCache(256 * 1024**2))


def phantom(seed: int) -> Phantom:
    """A small sagittal phantom: 3 mm slices, 0.6 mm pixels, one echo at TE 30 ms."""
    config = PhantomConfig(seed=seed, spacing=(3.0, 0.6, 0.6), echo_times=(30.0,))
    return make_phantom(PhantomConfig(**{**config.__dict__, "supersampling": 1}))


@pytest.fixture(scope="session")
def knee_phantom() -> Phantom:
    return phantom(1)


@pytest.fixture(scope="session")
def held_out_phantom() -> Phantom:
    """The same anatomy as ``knee_phantom`` with other noise (seed 3)."""
    return phantom(3)


@pytest.fixture(scope="session")
def sample_knee() -> Volume:
    """The first echo of the real sample knee (24 sagittal slices, 256 x 256)."""
    return read_volumes(fetch_sample().dicom_dir)[0]


def _truth_box(labels: np.ndarray, label: int, index: int, margin: float = 2.0) -> Box:
    box = Box.around(labels[index] == label, index, margin)
    assert box is not None, f"label {label} absent from slice {index}"
    return box


@pytest.fixture(scope="session")
def truth_box():
    """``truth_box(labels, label, slice, margin=2)``: the box around a label on a slice."""
    return _truth_box


@pytest.fixture(scope="session")
def phantom_bone_boxes(knee_phantom):
    """``phantom_bone_boxes(count)``: the ``count`` slices of ``knee_phantom`` where the
    smallest bone is largest (sorted), and one prompt per bone with its true box on each."""

    def boxes(count: int) -> tuple[list[int], list[LabelPrompt]]:
        labels = knee_phantom.labels.array
        areas = np.stack([(labels == bone).sum(axis=(1, 2)) for bone in BONES]).min(axis=0)
        slices = sorted(np.argsort(areas)[-count:].tolist())
        prompts = [
            LabelPrompt(bone, boxes=[_truth_box(labels, bone, k) for k in slices]) for bone in BONES
        ]
        return slices, prompts

    return boxes


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, str]:
    """Randomly initialised SAM ``vit_b`` and SAM2.1 ``hiera_t`` saved as checkpoint files."""
    paths = random_checkpoints(tmp_path_factory.mktemp("checkpoints"))
    return {model: str(path) for model, path in paths.items()}
