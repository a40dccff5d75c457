"""SAM-architecture backends: SAM (vit_b/l/h), MedSAM and LiteMedSAM share one implementation.

They differ only in their network and in how a slice becomes the network's input (size,
normalisation, aspect ratio): :class:`InputFormat`. The network is any module with SAM's
``image_encoder``, ``prompt_encoder`` and ``mask_decoder``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from msklabel.device import bf16_pays, check_precision, mixed_precision, resolve_device
from msklabel.errors import InputError
from msklabel.io.checksum import file_digest
from msklabel.segment.backends.base import MASK_PROMPT_LOGIT, SliceMask, require_checkpoint
from msklabel.segment.backends.onnx_encoder import DEFAULT_RUNTIME, check_runtime, onnx_encoder
from msklabel.segment.backends.prepared_decoder import prepared_decoder
from msklabel.segment.prompts import SlicePrompt

log = logging.getLogger(__name__)

SAM_VARIANTS = ("vit_b", "vit_l", "vit_h")
#: Slices encoded at once on a GPU: this many pixels of network input (24 LiteMedSAM slices).
GPU_BATCH_PIXELS = 24 * 256 * 256
_SAM_MEAN = (123.675 / 255, 116.28 / 255, 103.53 / 255)
_SAM_STD = (58.395 / 255, 57.12 / 255, 57.375 / 255)


@dataclass(frozen=True)
class InputFormat:
    """How a windowed slice in [0, 1] becomes a square network input of side ``size``.

    With ``keep_aspect`` the longest side is resized to ``size`` and the rest padded (SAM,
    LiteMedSAM); without it the slice is stretched to ``size`` x ``size`` (MedSAM).
    ``mean`` and ``std`` normalise each of the three channels, in [0, 1] units.
    """

    size: int
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    keep_aspect: bool = True

    def resized(self, shape: tuple[int, int]) -> tuple[int, int]:
        """Rows and columns that a slice of ``shape`` occupies in the network input."""
        if not self.keep_aspect:
            return self.size, self.size
        scale = self.size / max(shape)
        return round(shape[0] * scale), round(shape[1] * scale)

    def xy_scale(self, shape: tuple[int, int]) -> np.ndarray:
        """Factors taking slice ``(x, y)`` pixel coordinates to network input coordinates."""
        rows, columns = self.resized(shape)
        return np.array([columns / shape[1], rows / shape[0]])

    def to_input(self, images: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        """``[n, rows, columns]`` slices to ``[n, 1, size, size]``, resized and zero-padded."""
        rows, columns = self.resized(tuple(images.shape[-2:]))
        resized = _resize(images[:, None], (rows, columns), mode)
        return F.pad(resized, (0, self.size - columns, 0, self.size - rows))

    def normalise(self, inputs: torch.Tensor) -> torch.Tensor:
        """``[n, 1, size, size]`` to normalised three-channel network input."""
        mean = torch.tensor(self.mean, dtype=inputs.dtype, device=inputs.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=inputs.dtype, device=inputs.device).view(1, 3, 1, 1)
        return (inputs.expand(-1, 3, -1, -1) - mean) / std

    def from_input(self, logits: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        """Network-frame ``[n, k, h, w]`` logits back to ``[n, k, rows, columns]`` of a slice."""
        full = _resize(logits, (self.size, self.size), "bilinear")
        rows, columns = self.resized(shape)
        return _resize(full[..., :rows, :columns], shape, "bilinear")


class SamFamilyBackend:
    """A promptable segmenter around a SAM-architecture network.

    ``encode`` runs the image encoder on batches of ``batch_size`` slices; ``decode`` runs only
    the prompt encoder and mask decoder. The network is used read-only, so sessions may share
    it. On CPU one slice per batch is as fast per slice as four and peaks at less than half the
    memory (docs/performance.md), hence the default of 1; on a GPU batches hold at least
    :data:`GPU_BATCH_PIXELS` pixels of network input. The network and the embeddings live on
    ``device`` (:func:`msklabel.device.resolve_device`); masks come back as NumPy arrays.

    ``box_only`` marks networks trained with box prompts alone (MedSAM, LiteMedSAM), which do
    not understand clicks: for them, clicks without a box become a box that starts around the
    positive clicks and grows on each side the mask touches, as long as the mask keeps every
    positive click and no negative one.

    ``runtime`` ``onnx`` runs ``encode``'s image encoder in ONNX Runtime
    (:mod:`~msklabel.segment.backends.onnx_encoder`; fp32 on the CPU only, else torch with the
    reason logged); :attr:`runtime` says which one serves. ``encode_tensor`` is always torch.
    """

    #: Rounds of box growth for clicks on a box-only network, and the starting margin.
    click_rounds = 6
    click_margin = 0.05
    #: Decode prompts without a mask prompt through :mod:`.prepared_decoder` (same masks, the
    #: image side computed once per embedding).
    prepare_decoder = True

    def __init__(
        self,
        name: str,
        network: torch.nn.Module,
        input_format: InputFormat,
        model_id: str,
        box_only: bool = False,
        batch_size: int = 1,
        precision: str = "fp32",
        device: str | torch.device = "auto",
        runtime: str = DEFAULT_RUNTIME,
    ) -> None:
        for part in ("image_encoder", "prompt_encoder", "mask_decoder"):
            if not hasattr(network, part):
                raise TypeError(f"the {name} network has no {part}")
        self.device = resolve_device(device)
        self.precision = check_precision(precision, self.device)
        if precision == "bf16" and not bf16_pays(self.device):
            log.warning(
                "%s in bf16 on %s: this device emulates bf16, far slower than fp32 "
                "(choose fp32 here)",
                name,
                self.device,
            )
        self.name = name
        self.network = network.to(self.device).eval()
        self.input_format = input_format
        # bf16 embeddings differ from fp32 ones: they must not share cache entries
        self.model_id = model_id if precision == "fp32" else f"{model_id}:{precision}"
        self._onnx = None
        if check_runtime(runtime) == "onnx":
            self._onnx = onnx_encoder(self.encoder, input_format.size, self.device, precision)
        if self._onnx is not None:  # embeddings that differ in the last bits: own cache entries
            self.model_id = f"{self.model_id}:onnx"
        self.box_only = box_only
        if self.device.type != "cpu":
            batch_size = max(batch_size, GPU_BATCH_PIXELS // input_format.size**2)
        self.batch_size = batch_size

    @property
    def encoder(self) -> torch.nn.Module:
        return self.network.image_encoder

    @property
    def runtime(self) -> str:
        """What runs ``encode``'s image encoder now: ``onnx``, or ``torch`` (also for a copy
        whose network is being fine-tuned)."""
        return "onnx" if self._onnx is not None and self._onnx.serves(self.encoder) else "torch"

    @property
    def mask_size(self) -> tuple[int, int]:
        """Side of the low-resolution masks the decoder predicts (and takes as mask prompts)."""
        return tuple(self.network.prompt_encoder.mask_input_size)

    def encode(self, images: np.ndarray) -> list[torch.Tensor]:
        """fp32 embeddings of windowed slices on the backend's device, encoded in batches (in
        mixed precision if so configured)."""
        embeddings: list[torch.Tensor] = []
        with torch.inference_mode(), mixed_precision(self.device, self.precision):
            for start in range(0, len(images), self.batch_size):
                batch = torch.from_numpy(
                    np.ascontiguousarray(images[start : start + self.batch_size])
                )
                encoded = self._encode_batch(batch.float())
                embeddings.extend(e.to(torch.float32, copy=True) for e in encoded)
        return embeddings

    def encode_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """Image embeddings of windowed ``[n, rows, columns]`` slices (differentiable)."""
        return self.network.image_encoder(self._inputs(images))

    def _encode_batch(self, images: torch.Tensor) -> torch.Tensor:
        if self.runtime == "onnx":
            return self._onnx(self._inputs(images))
        return self.encode_tensor(images)

    def _inputs(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device)
        return self.input_format.normalise(self.input_format.to_input(images))

    def decode(
        self, embedding: torch.Tensor, prompt: SlicePrompt, shape: tuple[int, int]
    ) -> SliceMask:
        if prompt.empty:
            raise ValueError("an empty prompt")
        if self.box_only and prompt.box is None and prompt.mask is None:
            return self._decode_clicks_as_box(embedding, prompt, shape)
        if self.box_only:
            prompt = replace(prompt, coordinates=np.empty((0, 2)), positive=np.empty(0, bool))
        scale = self.input_format.xy_scale(shape)
        device = self.device
        points = None
        if len(prompt.coordinates):
            coordinates = prompt.coordinates * scale
            points = (
                torch.as_tensor(coordinates, dtype=torch.float32, device=device)[None],
                torch.as_tensor(prompt.positive, dtype=torch.int64, device=device)[None],
            )
        boxes = None
        if prompt.box is not None:
            box = prompt.box * np.tile(scale, 2)
            boxes = torch.as_tensor(box, dtype=torch.float32, device=device)[None]
        masks = None if prompt.mask is None else self._mask_prompt(prompt.mask)
        # A lone click is ambiguous: ask for several masks and keep the one rated best.
        multimask = boxes is None and masks is None and len(prompt.coordinates) == 1
        prepared = prepared_decoder(self.network) if self.prepare_decoder else None
        with torch.inference_mode():
            if prepared is not None and masks is None:
                logits, scores = prepared(embedding, points, boxes, multimask)
            else:
                logits, scores = self._decode(embedding[None], points, boxes, masks, multimask)
            best = int(scores[0].argmax())
            logits = self.input_format.from_input(logits[:, best : best + 1], shape)
        return SliceMask(logits[0, 0].cpu().numpy(), float(scores[0, best]))

    def _decode_clicks_as_box(
        self, embedding: torch.Tensor, prompt: SlicePrompt, shape: tuple[int, int]
    ) -> SliceMask:
        positive = prompt.coordinates[prompt.positive]
        if not len(positive):
            raise ValueError(f"the {self.name} model needs a box or at least one positive click")
        high = np.array([shape[1] - 1, shape[0] - 1] * 2, float)
        margin = self.click_margin * max(shape)
        box = np.clip(np.r_[positive.min(0) - margin, positive.max(0) + margin], 0, high)
        clicks = np.round(prompt.coordinates).astype(int)
        best = None
        for _ in range(self.click_rounds):
            result = self.decode(embedding, replace(prompt, box=box), shape)
            inside = result.mask[clicks[:, 1], clicks[:, 0]]
            if best is not None and not np.array_equal(inside, prompt.positive):
                break
            best = result
            touching = _touching_sides(result.mask, box, high)
            if not touching.any():
                break
            size = np.tile(box[2:] - box[:2], 2)
            box = np.clip(box + 0.5 * size * touching * np.array([-1, -1, 1, 1]), 0, high)
        return best

    def decode_boxes(self, embeddings: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Low-resolution logits ``[n, 1, h, w]`` for one network-frame box per embedding."""
        logits = [
            self._decode(embedding[None], None, box[None], None, False)[0]
            for embedding, box in zip(embeddings, boxes, strict=True)
        ]
        return torch.cat(logits)

    def boxes_to_model(self, boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Slice-pixel ``[n, 4]`` xyxy boxes in network input coordinates."""
        return boxes * np.tile(self.input_format.xy_scale(shape), 2)

    def masks_to_model(self, masks: np.ndarray) -> torch.Tensor:
        """Boolean ``[n, rows, columns]`` masks as ``[n, 1, h, w]`` low-resolution targets on the
        backend's device."""
        masks = torch.from_numpy(masks).to(self.device, torch.float32)
        frame = self.input_format.to_input(masks, "nearest")
        return (_resize(frame, self.mask_size, "area") > 0.5).float()

    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Write the network's state dict (CPU tensors), loadable by this backend's loader."""
        torch.save({k: v.cpu() for k, v in self.network.state_dict().items()}, path)

    def _mask_prompt(self, mask: np.ndarray) -> torch.Tensor:
        target = self.masks_to_model(mask[None])
        return (target * 2 - 1) * MASK_PROMPT_LOGIT

    def _decode(
        self,
        embeddings: torch.Tensor,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        prompt_encoder = self.network.prompt_encoder
        sparse, dense = prompt_encoder(points=points, boxes=boxes, masks=masks)
        return self.network.mask_decoder(
            image_embeddings=embeddings,
            image_pe=prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
        )


def load_sam(
    checkpoint: str | os.PathLike[str] | None,
    variant: str = "vit_b",
    name: str = "sam",
    precision: str = "fp32",
    device: str | torch.device = "auto",
) -> SamFamilyBackend:
    """SAM ``vit_b``/``vit_l``/``vit_h`` from a checkpoint, built by segment-anything."""
    from segment_anything import sam_model_registry

    if variant not in SAM_VARIANTS:
        raise ValueError(f"unknown SAM variant {variant!r} (known: {', '.join(SAM_VARIANTS)})")
    path = require_checkpoint(checkpoint, name)
    network = _build_checked(lambda: sam_model_registry[variant](checkpoint=str(path)), path, name)
    input_format = InputFormat(network.image_encoder.img_size, _SAM_MEAN, _SAM_STD)
    model_id = _model_id(name, variant, path)
    return SamFamilyBackend(
        name, network, input_format, model_id, precision=precision, device=device
    )


def load_medsam(
    checkpoint: str | os.PathLike[str] | None,
    precision: str = "fp32",
    device: str | torch.device = "auto",
) -> SamFamilyBackend:
    """MedSAM: SAM's ``vit_b`` with MedSAM weights; inputs stretched to 1024 in [0, 1]."""
    from segment_anything import sam_model_registry

    path = require_checkpoint(checkpoint, "medsam")
    network = _build_checked(
        lambda: sam_model_registry["vit_b"](checkpoint=str(path)), path, "medsam"
    )
    input_format = InputFormat(network.image_encoder.img_size, keep_aspect=False)
    model_id = _model_id("medsam", "vit_b", path)
    return SamFamilyBackend(
        "medsam", network, input_format, model_id, True, precision=precision, device=device
    )


def _build_checked(build: Any, path: os.PathLike[str], name: str) -> torch.nn.Module:
    try:
        return build().eval()
    except (RuntimeError, KeyError, TypeError) as error:
        first = str(error).splitlines()[0]
        raise InputError(path, f"not a {name} checkpoint ({first})") from None


def _model_id(name: str, variant: str, path: os.PathLike[str]) -> str:
    return f"{name}:{variant}:{file_digest(path)[:16]}"


def _touching_sides(mask: np.ndarray, box: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Which sides (x_min, y_min, x_max, y_max) of ``box`` the mask reaches, off the image edge."""
    rows, columns = np.nonzero(mask)
    if not rows.size:
        return np.zeros(4, bool)
    extent = np.array([columns.min(), rows.min(), columns.max(), rows.max()], float)
    reaches = np.abs(extent - box) <= 1
    return reaches & (np.abs(box - np.array([0, 0, *high[2:]])) > 0)


def _resize(images: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    if mode == "nearest" or mode == "area":
        return F.interpolate(images, size=size, mode=mode)
    shrinking = size[0] < images.shape[-2] or size[1] < images.shape[-1]
    return F.interpolate(images, size=size, mode=mode, align_corners=False, antialias=shrinking)
