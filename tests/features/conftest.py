"""Fixtures for the embedding tests: randomly initialised encoders and a phantom knee slab."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.data.phantom import PhantomConfig, make_phantom
from msklabel.testing.checkpoints import random_embedder_checkpoints
from msklabel.volume import Volume


@pytest.fixture(scope="session")
def embedder_checkpoints(tmp_path_factory) -> dict[str, str]:
    """Randomly initialised DINOv2 ViT-S/14, DINOv3 ViT-S/16 and CT-FM encoder checkpoints."""
    paths = random_embedder_checkpoints(tmp_path_factory.mktemp("embedders"))
    return {model: str(path) for model, path in paths.items()}


@pytest.fixture(scope="session")
def knee_slab():
    """``knee_slab(first, count=4)``: ``count`` slices from ``first`` of a small sagittal
    phantom knee (3 mm slices of 1 mm pixels, 150 x 150, one echo)."""
    config = PhantomConfig(seed=1, spacing=(3.0, 1.0, 1.0), echo_times=(30.0,), supersampling=1)
    knee = make_phantom(config).echoes[0]

    def slab(first: int, count: int = 4) -> Volume:
        return Volume(np.ascontiguousarray(knee.array[first : first + count]), knee.affine)

    return slab
