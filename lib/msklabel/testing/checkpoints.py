"""Randomly initialised SAM, SAM2 and embedding-encoder checkpoints: the real architectures
and loaders without weights that cannot be had here (random weights give arbitrary masks and
meaningless embeddings)."""

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


#: The embedding encoders saved: the smallest of each family, by model name.
EMBEDDER_VARIANTS = {
    "dinov2": "vit_small_patch14_dinov2",
    "dinov3": "vit_small_patch16_dinov3_qkvb",
    "ctfm": "segresencoder",
}


def random_embedder_checkpoints(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Save randomly initialised embedding encoders into ``folder``, each in a layout its
    release ships: DINOv2 ViT-S/14 as the official bare state dict (with ``mask_token``),
    DINOv3 ViT-S/16 as a DINO training checkpoint (``teacher`` with ``backbone.`` keys and a
    head) and CT-FM's encoder as ``model.safetensors``. Their paths by model name."""
    import timm
    import torch
    from safetensors.torch import save_file

    from msklabel.features.ctfm import build_network

    torch.manual_seed(seed)
    paths = {
        "dinov2": folder / "dinov2_vits14.pth",
        "dinov3": folder / "dinov3_vits16_teacher.pth",
        "ctfm": folder / "model.safetensors",
    }
    dinov2 = timm.create_model(EMBEDDER_VARIANTS["dinov2"], pretrained=False, num_classes=0)
    official = {**dinov2.state_dict(), "mask_token": torch.zeros(1, dinov2.embed_dim)}
    torch.save(official, paths["dinov2"])
    dinov3 = timm.create_model(EMBEDDER_VARIANTS["dinov3"], pretrained=False, num_classes=0)
    teacher = {f"backbone.{k}": v for k, v in dinov3.state_dict().items()}
    teacher["dino_head.last_layer.weight"] = torch.zeros(8, 384)
    torch.save({"teacher": teacher, "iteration": 0}, paths["dinov3"])
    save_file(build_network().state_dict(), str(paths["ctfm"]))
    return paths
