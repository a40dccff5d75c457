"""Promptable segmentation backends, loaded by name."""

from __future__ import annotations

import os

import torch

from msklabel.errors import OptionError
from msklabel.segment.backends.base import Backend
from msklabel.segment.backends.onnx_encoder import DEFAULT_RUNTIME, RUNTIMES, check_runtime
from msklabel.segment.runtime import reuse_freed_memory

MODELS = ("litemedsam", "sam", "medsam", "sam2")

__all__ = ["DEFAULT_RUNTIME", "MODELS", "RUNTIMES", "check_model_runtime", "load_backend"]


def load_backend(
    model: str = "litemedsam",
    checkpoint: str | os.PathLike[str] | None = None,
    variant: str | None = None,
    precision: str = "fp32",
    device: str | torch.device = "auto",
    runtime: str = DEFAULT_RUNTIME,
) -> Backend:
    """The backend ``model`` with weights from ``checkpoint``.

    ``variant`` picks the architecture: SAM's ``vit_b`` (default), ``vit_l``, ``vit_h``; SAM2's
    ``hiera_t``, ``hiera_s``, ``hiera_b+`` (default), ``hiera_l`` for SAM2.1, prefixed ``2_``
    for the original SAM2 (``2_hiera_l``). LiteMedSAM uses its packaged weights when no
    checkpoint is given; the others need one. ``precision`` is the image encoder's arithmetic:
    ``fp32``, ``bf16`` or (CUDA only) ``fp16`` (autocast; SAM-family models only, see
    docs/performance.md). ``device``: where the network runs (:mod:`msklabel.device`).
    ``runtime``: what runs LiteMedSAM's image encoder, ``torch`` or ``onnx`` (ONNX Runtime,
    CPU fp32 only; elsewhere torch, the reason logged); the other models run in torch only.
    Loading a backend also sets this process's allocator to reuse freed memory
    (:func:`msklabel.segment.runtime.reuse_freed_memory`).
    """
    reuse_freed_memory()
    check_model_runtime(model, runtime)
    if model == "litemedsam":
        from msklabel.segment.backends.litemedsam import load_litemedsam

        return load_litemedsam(checkpoint, precision, device, runtime)
    if model == "sam":
        from msklabel.segment.backends.sam import load_sam

        return load_sam(checkpoint, variant or "vit_b", precision=precision, device=device)
    if model == "medsam":
        from msklabel.segment.backends.sam import load_medsam

        return load_medsam(checkpoint, precision, device)
    if model == "sam2":
        from msklabel.segment.backends.sam2 import load_sam2

        if precision != "fp32":
            raise OptionError(f"the sam2 backend runs in fp32 only, not {precision!r}")
        return load_sam2(checkpoint, variant or "hiera_b+", device)
    raise OptionError(f"unknown model {model!r} (known: {', '.join(MODELS)})")


def check_model_runtime(model: str, runtime: str) -> str:
    """``runtime`` if ``model`` can run in it, else :class:`OptionError` naming both: only
    LiteMedSAM's encoder has a runtime other than torch."""
    if check_runtime(runtime) != "torch" and model != "litemedsam":
        raise OptionError(f"the {model} backend runs in torch only, not {runtime!r}")
    return runtime
