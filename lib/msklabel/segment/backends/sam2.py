"""SAM2 and SAM2.1: slices through the image model, propagation through the video predictor.

One network serves both. Single slices go through :class:`SamFamilyBackend`'s prompt handling
with SAM2's own encoder and decoder; :meth:`Sam2Backend.track` runs SAM2's video predictor on
the volume's float slices held in memory (never 8-bit frames on disk), forwards and backwards
from the prompted slices, with an inference state made for that call alone.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from sam2.sam2_video_predictor import SAM2VideoPredictor

from msklabel.segment.backends.base import SliceMask, load_weights, require_checkpoint
from msklabel.segment.backends.sam import InputFormat, SamFamilyBackend, _model_id
from msklabel.segment.prompts import SlicePrompt

#: Architectures: ``hiera_t`` etc. are SAM2.1; ``2_hiera_t`` etc. the original SAM2.
SAM2_SIZES = ("hiera_t", "hiera_s", "hiera_b+", "hiera_l")
SAM2_VARIANTS = (
    *SAM2_SIZES,
    *(f"2.1_{size}" for size in SAM2_SIZES),
    *(f"2_{size}" for size in SAM2_SIZES),
)
#: SAM2 stretches slices to a square and normalises them with ImageNet's mean and std.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
#: Box corners as SAM2 point labels.
_BOX_LABELS = (2, 3)


class VolumePredictor(SAM2VideoPredictor):
    """SAM2's video predictor, with SAM's part names and inference states on in-memory slices."""

    @property
    def prompt_encoder(self) -> torch.nn.Module:
        return self.sam_prompt_encoder

    @property
    def mask_decoder(self) -> torch.nn.Module:
        return self.sam_mask_decoder

    def volume_state(self, frames: Sequence[torch.Tensor], shape: tuple[int, int]) -> dict:
        """A fresh inference state over network-ready ``frames`` of slices of ``shape``.

        It holds what :meth:`SAM2VideoPredictor.init_state` builds from a folder of frames.
        """
        return {
            "images": frames,
            "num_frames": len(frames),
            "offload_video_to_cpu": False,
            "offload_state_to_cpu": False,
            "video_height": shape[0],
            "video_width": shape[1],
            "device": self.device,
            "storage_device": self.device,
            "point_inputs_per_obj": {},
            "mask_inputs_per_obj": {},
            "cached_features": {},
            "constants": {},
            "obj_id_to_idx": OrderedDict(),
            "obj_idx_to_id": OrderedDict(),
            "obj_ids": [],
            "output_dict_per_obj": {},
            "temp_output_dict_per_obj": {},
            "frames_tracked_per_obj": {},
        }


class _Frames(Sequence[torch.Tensor]):
    """Windowed slices turned into normalised network input one at a time, when SAM2 asks."""

    def __init__(self, images: np.ndarray, input_format: InputFormat, device: torch.device) -> None:
        self.images = images
        self.input_format = input_format
        self.device = device

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:  # type: ignore[override]
        image = torch.from_numpy(np.ascontiguousarray(self.images[index], np.float32))
        image = image.to(self.device)
        return self.input_format.normalise(self.input_format.to_input(image[None]))[0]


class Sam2Backend(SamFamilyBackend):
    """SAM2 behind the engine's interface, and a :class:`TrackingBackend`.

    A slice's embedding is one tensor: the image embedding with SAM2's two high-resolution
    feature maps folded onto its grid (``pixel_unshuffle``), so that the embedding cache and
    fine-tuning handle it like SAM's. Tracked slices are scored by SAM2's probability that the
    object is present (its video predictor keeps no predicted IoU); slices where it judges the
    object absent are left out. Clicks and boxes take precedence over a mask prompt on a slice.
    """

    def __init__(
        self,
        network: VolumePredictor,
        model_id: str,
        batch_size: int = 2,
        device: str | torch.device = "auto",
    ) -> None:
        input_format = InputFormat(
            network.image_size, _IMAGENET_MEAN, _IMAGENET_STD, keep_aspect=False
        )
        super().__init__(
            "sam2", network, input_format, model_id, batch_size=batch_size, device=device
        )
        decoder = network.sam_mask_decoder
        # (channels, fold factor) of the high-resolution maps, finest first
        self._high_res = ((decoder.conv_s0.out_channels, 4), (decoder.conv_s1.out_channels, 2))

    def encode_tensor(self, images: torch.Tensor) -> torch.Tensor:
        inputs = self.input_format.normalise(self.input_format.to_input(images))
        network = self.network
        _, features, _, sizes = network._prepare_backbone_features(network.forward_image(inputs))
        if network.directly_add_no_mem_embed:
            features[-1] = features[-1] + network.no_mem_embed
        maps = [
            feature.permute(1, 2, 0).reshape(len(images), -1, *size)
            for feature, size in zip(features, sizes, strict=True)
        ]
        folded = [
            F.pixel_unshuffle(level, factor)
            for level, (_, factor) in zip(maps[:-1], self._high_res, strict=True)
        ]
        return torch.cat([*folded, maps[-1]], dim=1)

    def _unfold(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Packed embeddings back to the image embedding and the high-resolution maps."""
        splits = [channels * factor**2 for channels, factor in self._high_res]
        *folded, image = embeddings.split([*splits, embeddings.shape[1] - sum(splits)], dim=1)
        high_res = [
            F.pixel_shuffle(level, factor)
            for level, (_, factor) in zip(folded, self._high_res, strict=True)
        ]
        return image, high_res

    def _decode(
        self,
        embeddings: torch.Tensor,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image, high_res = self._unfold(embeddings)
        if boxes is not None:  # SAM2 takes a box as two labelled corner points, before clicks
            corners = boxes.reshape(-1, 2, 2)
            labels = torch.tensor([_BOX_LABELS], device=corners.device).expand(len(corners), -1)
            if points is not None:
                corners = torch.cat([corners, points[0]], dim=1)
                labels = torch.cat([labels, points[1]], dim=1)
            points = (corners, labels)
        sparse, dense = self.network.sam_prompt_encoder(points=points, boxes=None, masks=masks)
        logits, scores, _, _ = self.network.sam_mask_decoder(
            image_embeddings=image,
            image_pe=self.network.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
            repeat_image=False,
            high_res_features=high_res,
        )
        return logits, scores

    def track(self, images: np.ndarray, prompts: Mapping[int, SlicePrompt]) -> dict[int, SliceMask]:
        if not prompts or any(prompt.empty for prompt in prompts.values()):
            raise ValueError("tracking needs a non-empty prompt on at least one slice")
        predictor = self.network
        state = predictor.volume_state(
            _Frames(images, self.input_format, self.device), images.shape[1:]
        )
        with torch.inference_mode():
            for index, prompt in sorted(prompts.items()):
                _add_prompt(predictor, state, index, prompt)
            results = {}
            for reverse, start in ((False, min(prompts)), (True, max(prompts))):
                for index, _, logits in predictor.propagate_in_video(
                    state, start_frame_idx=start, reverse=reverse
                ):
                    presence = _presence(state, index)
                    if presence > 0.5 or index in prompts:
                        results[index] = SliceMask(logits[0, 0].float().cpu().numpy(), presence)
        return dict(sorted(results.items()))


def _add_prompt(predictor: VolumePredictor, state: dict, index: int, prompt: SlicePrompt) -> None:
    clicks = len(prompt.coordinates) > 0
    if clicks or prompt.box is not None:
        predictor.add_new_points_or_box(
            state,
            index,
            obj_id=1,
            points=prompt.coordinates if clicks else None,
            labels=prompt.positive.astype(np.int32) if clicks else None,
            box=prompt.box,
        )
    else:
        predictor.add_new_mask(state, index, obj_id=1, mask=prompt.mask)


def _presence(state: dict, index: int) -> float:
    """SAM2's probability that the tracked object is on slice ``index``."""
    outputs = state["output_dict_per_obj"][0]
    output = outputs["cond_frame_outputs"].get(index) or outputs["non_cond_frame_outputs"][index]
    return float(torch.sigmoid(output["object_score_logits"]).flatten()[0])


def config_file(variant: str) -> str:
    """The ``sam2`` package's config for a variant name."""
    if variant not in SAM2_VARIANTS:
        known = ", ".join(SAM2_VARIANTS)
        raise ValueError(f"unknown SAM2 variant {variant!r} (known: {known})")
    version, _, size = variant.rpartition("hiera_")
    version = version.rstrip("_") or "2.1"
    return f"configs/sam{version}/sam{version}_hiera_{size}.yaml"


def build_network(variant: str) -> VolumePredictor:
    """A randomly initialised SAM2 network of ``variant``, on the CPU, in eval mode."""
    from sam2.build_sam import build_sam2_video_predictor

    target = f"++model._target_={VolumePredictor.__module__}.{VolumePredictor.__qualname__}"
    return build_sam2_video_predictor(
        config_file(variant), device="cpu", hydra_overrides_extra=[target]
    )


def load_sam2(
    checkpoint: str | os.PathLike[str] | None,
    variant: str = "hiera_b+",
    device: str | torch.device = "auto",
) -> Sam2Backend:
    """SAM2/SAM2.1 of ``variant`` with the weights in ``checkpoint``, on ``device``."""
    config_file(variant)
    path = require_checkpoint(checkpoint, "sam2")
    network = cast(VolumePredictor, load_weights(build_network(variant), path, "sam2"))
    return Sam2Backend(network, _model_id("sam2", variant, path), device=device)
