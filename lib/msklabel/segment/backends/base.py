"""What every promptable segmentation backend provides to the engine and to fine-tuning."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from msklabel.errors import DataUnavailableError, InputError
from msklabel.segment.prompts import SlicePrompt

#: Logit magnitude given to a binary mask used as a mask prompt.
MASK_PROMPT_LOGIT = 8.0


@dataclass(frozen=True)
class SliceMask:
    """A backend's answer on one slice: mask logits at the slice's size and predicted IoU."""

    logits: np.ndarray
    score: float

    @property
    def mask(self) -> np.ndarray:
        return self.logits > 0


@runtime_checkable
class Backend(Protocol):
    """A promptable 2D segmenter: slices are encoded once, prompts are decoded many times.

    ``encode`` takes slices windowed to float32 in [0, 1] (shape ``[n, rows, columns]``) and
    returns one immutable embedding per slice; ``decode`` answers a prompt on one slice from its
    embedding. Neither may keep per-image state: several sessions share one backend.
    """

    name: str
    model_id: str

    def encode(self, images: np.ndarray) -> list[Any]: ...

    def decode(self, embedding: Any, prompt: SlicePrompt, shape: tuple[int, int]) -> SliceMask: ...


@runtime_checkable
class TrackingBackend(Backend, Protocol):
    """A backend with its own propagation through slices (SAM2's video predictor).

    ``track`` takes the whole windowed volume and the prompts on some slices, and returns
    the masks on every slice where the structure was followed, in both directions.
    """

    def track(
        self, images: np.ndarray, prompts: Mapping[int, SlicePrompt]
    ) -> dict[int, SliceMask]: ...


@runtime_checkable
class TrainableBackend(Backend, Protocol):
    """A backend that fine-tuning can train: box prompts to low-resolution mask logits."""

    network: torch.nn.Module
    encoder: torch.nn.Module

    def encode_tensor(self, images: torch.Tensor) -> Any: ...

    def decode_boxes(self, embeddings: Any, boxes: torch.Tensor) -> torch.Tensor: ...

    def boxes_to_model(self, boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray: ...

    def masks_to_model(self, masks: np.ndarray) -> torch.Tensor: ...

    def save_checkpoint(self, path: str | os.PathLike[str]) -> None: ...


def require_checkpoint(
    checkpoint: str | os.PathLike[str] | None, backend: str, option: str = "--checkpoint"
) -> Path:
    """The checkpoint path, or a clear error naming the option that supplies it."""
    if checkpoint is None:
        raise DataUnavailableError(
            f"the {backend!r} model has no embedded weights: give its checkpoint file with "
            f"{option} PATH (Python: checkpoint=PATH)"
        )
    path = Path(checkpoint)
    if not path.is_file():
        raise InputError(path, f"no such checkpoint file for the {backend!r} model")
    return path


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The state dict in a checkpoint file (bare, or under ``"model"`` or ``"state_dict"``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged or foreign files
        raise InputError(path, f"not a readable PyTorch checkpoint ({error})") from None
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise InputError(path, "the checkpoint holds no state dict")
    return state


def load_weights(
    network: torch.nn.Module, path: str | os.PathLike[str], backend: str
) -> torch.nn.Module:
    """Load a checkpoint into ``network`` strictly, naming the file when it does not fit."""
    try:
        network.load_state_dict(load_state_dict(path), strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise InputError(path, f"not a {backend} checkpoint ({first})") from None
    return network.eval()
