"""DINOv2 and DINOv3 ViT slice encoders: timm's architectures with the user's weights.

The architecture follows the checkpoint: its width picks small (384) or base (768), and
DINOv2 weights with register tokens pick the ``reg4`` model. Official releases (``mask_token``,
``storage_tokens``, ``ls1.gamma``, ...) are converted by timm's own checkpoint filter; timm
checkpoints load as they are. The patch and position embeddings must have the model's exact
shapes (timm would silently resample them); DINOv2 keeps its 518-pixel position grid and
interpolates it to the input at run time, as DINOv2 itself does.

A slice is windowed (:meth:`msklabel.segment.intensity.Window.robust` over the volume),
stretched to :data:`INPUT_SIZE` square (the pretraining's global crop: 16 x 16 patches for
both), replicated to three channels and ImageNet-normalised; its feature map is the final
normed patch tokens ``[width, 16, 16]`` (class and register tokens left out).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from msklabel.device import resolve_device
from msklabel.errors import DataUnavailableError, InputError
from msklabel.features.weights import load_exactly, read_state_dict
from msklabel.io.checksum import file_digest
from msklabel.segment.backends.sam import InputFormat
from msklabel.segment.intensity import Window
from msklabel.volume import Volume

#: timm architecture per family and checkpoint width.
ARCHITECTURES = {
    "dinov2": {384: "vit_small_patch14_dinov2", 768: "vit_base_patch14_dinov2"},
    "dinov3": {384: "vit_small_patch16_dinov3_qkvb", 768: "vit_base_patch16_dinov3_qkvb"},
}
#: Network input side per family (its pretraining's global crops).
INPUT_SIZE = {"dinov2": 224, "dinov3": 256}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
#: Slices per encoder pass.
BATCH = 8


class DinoEncoder:
    """Patch-token maps of slices from a DINO ViT ``network``; ``model_id`` names family,
    architecture and weights."""

    def __init__(
        self, network: torch.nn.Module, family: str, model_id: str, device: torch.device
    ) -> None:
        self.network = network.to(device)
        self.model_id = model_id
        self.device = device
        self.input_format = InputFormat(
            INPUT_SIZE[family], _IMAGENET_MEAN, _IMAGENET_STD, keep_aspect=False
        )

    def feature_maps(self, volume: Volume, indices: Sequence[int]) -> Iterator[torch.Tensor]:
        """``[width, 16, 16]`` patch-token maps of slices ``indices`` of ``volume``, in order."""
        window = Window.robust(volume.array)
        side = self.input_format.size // self.network.patch_embed.patch_size[0]
        indices = np.asarray(indices, int)
        for start in range(0, len(indices), BATCH):
            chunk = indices[start : start + BATCH]
            images = torch.from_numpy(window.apply(volume.array[chunk])).to(self.device)
            inputs = self.input_format.normalise(self.input_format.to_input(images))
            with torch.inference_mode():
                tokens = self.network.forward_features(inputs)
            patches = tokens[:, self.network.num_prefix_tokens :]
            yield from patches.transpose(1, 2).reshape(len(chunk), -1, side, side).float().cpu()


def architecture(family: str, state: dict[str, torch.Tensor], path: os.PathLike[str]) -> str:
    """The timm architecture that the ``family`` checkpoint ``state`` (from ``path``) fits."""
    weight = state.get("patch_embed.proj.weight")
    if weight is None:
        raise InputError(path, f"not a {family} checkpoint (no patch_embed.proj.weight)")
    names = ARCHITECTURES[family]
    width = int(weight.shape[0])
    if width not in names:
        known = ", ".join(f"{w} ({name})" for w, name in names.items())
        raise InputError(path, f"a {family} ViT of width {width}; supported widths: {known}")
    registers = "register_tokens" in state or "reg_token" in state
    return names[width].replace("_dinov2", "_reg4_dinov2") if registers else names[width]


def _unresampled_shapes(
    network: torch.nn.Module, state: dict[str, torch.Tensor]
) -> dict[str, tuple[int, ...]]:
    """The shapes that the checkpoint's patch and position embeddings must have for timm's
    filter to leave them as they are (official DINOv2 weights with registers keep the class
    token's position, which the filter folds into the class token)."""
    shapes = {"patch_embed.proj.weight": tuple(network.patch_embed.proj.weight.shape)}
    if getattr(network, "pos_embed", None) is not None:
        batch, tokens, width = network.pos_embed.shape
        shapes["pos_embed"] = (batch, tokens + int("register_tokens" in state), width)
    return shapes


def load_dino(family: str, path: os.PathLike[str], device: str | torch.device) -> DinoEncoder:
    """The ``family`` (``dinov2``/``dinov3``) encoder with weights from checkpoint ``path``."""
    import timm
    from timm.models import eva, vision_transformer

    state = read_state_dict(path)
    name = architecture(family, state, path)
    if not timm.is_model(name):
        raise DataUnavailableError(
            f"timm {timm.__version__} has no {name} (DINOv3 needs timm >= 1.0.20: "
            "pip install 'msklabel[embed]')"
        )
    options = {"dynamic_img_size": True} if family == "dinov2" else {}
    network = timm.create_model(name, pretrained=False, num_classes=0, **options)
    for key, shape in _unresampled_shapes(network, state).items():
        if key in state and tuple(state[key].shape) != shape:
            found = f"{key} {list(state[key].shape)} for {list(shape)}"
            raise InputError(path, f"not a {name} checkpoint (shapes differ: {found})")
    convert = (
        eva.checkpoint_filter_fn if family == "dinov3" else vision_transformer.checkpoint_filter_fn
    )
    network = load_exactly(network, convert(state, network), path, name)
    model_id = f"{family}:{name}:{file_digest(path)[:16]}"
    return DinoEncoder(network, family, model_id, resolve_device(device))
