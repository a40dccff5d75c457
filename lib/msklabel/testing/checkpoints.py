"""Randomly initialised SAM and SAM2 checkpoints: the real architectures and loaders without
weights that cannot be had here (random weights give arbitrary masks)."""

from __future__ import annotations

from pathlib import Path

#: The architectures saved: SAM ``vit_b`` and SAM2.1 ``hiera_t``, by backend name.
VARIANTS = {"sam": "vit_b", "sam2": "hiera_t"}


def random_checkpoints(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Save randomly initialised SAM ``vit_b`` (``sam.pth``) and SAM2.1 ``hiera_t``
    (``sam2.pt``) networks into ``folder``; their paths by backend name."""
    import torch
    from segment_anything import sam_model_registry

    from msklabel.segment.backends.sam2 import build_network

    torch.manual_seed(seed)
    paths = {"sam": folder / "sam.pth", "sam2": folder / "sam2.pt"}
    torch.save(sam_model_registry[VARIANTS["sam"]]().state_dict(), paths["sam"])
    torch.save({"model": build_network(VARIANTS["sam2"]).state_dict()}, paths["sam2"])
    return paths
