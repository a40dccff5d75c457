"""Promptable segmentation backends, loaded by name."""

from __future__ import annotations

import os

from msklabel.segment.backends.base import Backend

MODELS = ("litemedsam", "sam", "medsam")


def load_backend(
    model: str = "litemedsam",
    checkpoint: str | os.PathLike[str] | None = None,
    variant: str | None = None,
) -> Backend:
    """The backend ``model`` with weights from ``checkpoint``.

    ``variant`` picks the SAM architecture (``vit_b``/``vit_l``/``vit_h``). LiteMedSAM uses
    its packaged weights when no checkpoint is given; the others need one.
    """
    if model == "litemedsam":
        from msklabel.segment.backends.litemedsam import load_litemedsam

        return load_litemedsam(checkpoint)
    if model == "sam":
        from msklabel.segment.backends.sam import load_sam

        return load_sam(checkpoint, variant or "vit_b")
    if model == "medsam":
        from msklabel.segment.backends.sam import load_medsam

        return load_medsam(checkpoint)
    if model == "sam2":
        raise NotImplementedError("the sam2 backend is not implemented yet")
    raise ValueError(f"unknown model {model!r} (known: {', '.join(MODELS)})")
