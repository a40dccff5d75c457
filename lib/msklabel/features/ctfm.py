"""CT-FM's 3D encoder: MONAI's ``SegResEncoder`` with the user's CT-FM weights.

The architecture is the released feature extractor's (``project-lighter/ct_fm_feature_extractor``:
``SegResEncoder(spatial_dims=3, in_channels=1, init_filters=32, blocks_down=(1, 2, 2, 4, 4))``,
ReLU and batch norm); its ``model.safetensors`` (or any file holding the same state dict:
``conv_init.weight``, ``layers.N.blocks...``, ``layers.N.downsample.weight``; the
``ct_fm_segresnet`` release's ``encoder.`` keys are taken from it) loads exactly.

The volume is windowed (:meth:`msklabel.segment.intensity.Window.robust`; CT-FM scales
-1024..2048 HU to [0, 1], MR has no such scale), each slice stretched to :data:`IN_PLANE`
square, the slice axis resampled linearly to voxels as deep as the new in-plane pixels are
wide (at most :data:`MAX_DEPTH`) and zero-padded to a multiple of :data:`STRIDE`. The volume's
own axes are kept (CT-FM trained on SPL-oriented CT). A slice's feature map is the deepest
level ``[512, 8, 8]`` interpolated linearly along the slice axis at the slice's centre.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from msklabel.device import resolve_device
from msklabel.features.weights import load_exactly, read_state_dict
from msklabel.io.checksum import file_digest
from msklabel.segment.backends.sam import InputFormat
from msklabel.segment.intensity import Window
from msklabel.volume import Volume

#: The CT-FM feature extractor's ``SegResEncoder`` arguments.
CONFIG = {"spatial_dims": 3, "in_channels": 1, "init_filters": 32, "blocks_down": (1, 2, 2, 4, 4)}
#: Rows and columns of the network input.
IN_PLANE = 128
#: The encoder's total downsampling of its deepest level (four stride-2 convolutions).
STRIDE = 16
#: Most voxels along the resampled slice axis.
MAX_DEPTH = 256


class CtfmEncoder:
    """Per-slice maps of CT-FM's deepest feature level; ``model_id`` names the weights."""

    def __init__(self, network: torch.nn.Module, model_id: str, device: torch.device) -> None:
        self.network = network.to(device)
        self.model_id = model_id
        self.device = device
        self.input_format = InputFormat(IN_PLANE, keep_aspect=False)

    def feature_maps(self, volume: Volume, indices: Sequence[int]) -> Iterator[torch.Tensor]:
        """``[512, 8, 8]`` maps of slices ``indices`` of ``volume``, from one pass over it."""
        slices = volume.shape[0]
        images = torch.from_numpy(Window.robust(volume.array).apply(volume.array))
        planes = self.input_format.to_input(images.to(self.device))  # [slices, 1, 128, 128]
        depth = resampled_depth(volume)
        inputs = F.interpolate(
            planes.permute(1, 0, 2, 3)[None], (depth, IN_PLANE, IN_PLANE), mode="trilinear"
        )
        inputs = F.pad(inputs, (0, 0, 0, 0, 0, math.ceil(depth / STRIDE) * STRIDE - depth))
        with torch.inference_mode():
            deepest = self.network(inputs)[-1][0].float().cpu()  # [512, levels, 8, 8]
        for k in np.asarray(indices, int):
            centre = (k + 0.5) * depth / slices  # in resampled voxels from the first edge
            yield slice_at(deepest, centre / STRIDE - 0.5)


def resampled_depth(volume: Volume) -> int:
    """Voxels along the slice axis as deep as the :data:`IN_PLANE` pixels are wide."""
    slice_mm, row_mm, column_mm = volume.spacing
    slices, rows, columns = volume.shape
    pixel_mm = (row_mm * rows + column_mm * columns) / (2 * IN_PLANE)
    return int(min(max(round(slices * slice_mm / pixel_mm), 1), MAX_DEPTH))


def slice_at(maps: torch.Tensor, position: float) -> torch.Tensor:
    """``[channels, levels, h, w]`` interpolated linearly at ``position`` along ``levels``
    (clamped to the ends): ``[channels, h, w]``."""
    position = min(max(position, 0.0), maps.shape[1] - 1.0)
    low = math.floor(position)
    high = min(low + 1, maps.shape[1] - 1)
    weight = position - low
    return (1 - weight) * maps[:, low] + weight * maps[:, high]


def build_network() -> torch.nn.Module:
    """CT-FM's encoder architecture, randomly initialised."""
    from monai.networks.nets.segresnet_ds import SegResEncoder

    return SegResEncoder(**CONFIG)


def load_ctfm(path: os.PathLike[str], device: str | torch.device) -> CtfmEncoder:
    """The CT-FM encoder with weights from checkpoint ``path`` (built on the meta device: its
    78 M parameters are not initialised only to be overwritten)."""
    with torch.device("meta"):
        network = build_network()
    state = read_state_dict(path)
    network = load_exactly(network, state, path, "CT-FM SegResEncoder", assign=True).float()
    model_id = f"ctfm:segresencoder:{file_digest(path)[:16]}"
    return CtfmEncoder(network, model_id, resolve_device(device))
