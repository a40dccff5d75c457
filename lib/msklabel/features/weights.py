"""Encoder weights from a user's checkpoint file: unwrapped, de-prefixed, loaded exactly."""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from msklabel.errors import InputError

#: Keys under which training checkpoints keep the network's state dict, outermost first
#: (DINO's ``teacher``; ``model`` and ``state_dict`` of most trainers).
WRAPPERS = ("teacher", "model", "state_dict")
#: Key prefixes stripped in this order; where a prefix occurs, only the keys with it are kept
#: (``backbone.`` drops DINO's projection heads, ``encoder.`` a SegResNet's decoder).
PREFIXES = ("module.", "teacher.", "backbone.", "encoder.")
#: Keys named in an error message, per kind of difference.
SHOWN = 3


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The network state dict in a PyTorch (``torch.save``) or ``.safetensors`` file: bare or
    under :data:`WRAPPERS`, :data:`PREFIXES` stripped."""
    try:
        if os.fspath(path).endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(os.fspath(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch and safetensors raise many types for foreign files
        raise InputError(path, f"not a readable checkpoint ({error})") from None
    for key in WRAPPERS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state:
        raise InputError(path, "the checkpoint holds no state dict")
    for prefix in PREFIXES:
        if any(str(key).startswith(prefix) for key in state):
            state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def load_exactly(
    network: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    what: str,
    assign: bool = False,
) -> torch.nn.Module:
    """``network`` with ``state`` loaded, every key and shape matching; otherwise an error
    naming ``path``, ``what`` it should hold and the first missing, unexpected and misshapen
    keys. ``assign`` takes the checkpoint's tensors as they are (for a network built on the
    meta device). Returns the network in eval mode."""
    problem = state_mismatch(network.state_dict(), state)
    if problem:
        raise InputError(path, f"not a {what} checkpoint ({problem})")
    network.load_state_dict(state, strict=True, assign=assign)
    return network.eval()


def state_mismatch(
    expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
) -> str | None:
    """How ``state`` differs from ``expected`` in keys and shapes (None where it does not)."""
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    misshapen = [
        f"{key} {list(state[key].shape)} for {list(value.shape)}"
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    ]
    parts = [
        f"{label} {len(keys)}: {', '.join(keys[:SHOWN])}{', ...' if len(keys) > SHOWN else ''}"
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shapes differ", misshapen),
        )
        if keys
    ]
    return "; ".join(parts) or None
