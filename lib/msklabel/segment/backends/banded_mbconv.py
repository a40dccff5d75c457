"""LiteMedSAM's full-resolution convolution blocks run on bands of rows, to bound the encoder's
peak memory.

The first stage of LiteMedSAM's TinyViT encoder runs two MBConv blocks at the full 256 x 256
input resolution with 256 hidden channels: each hidden activation is 64 MiB and a block holds
three of them at once, the encoder's memory peak (192 of its 224 MiB of tensors on one slice;
docs/performance.md). :class:`BandedMBConv` computes the same block one band of rows at a time:
its 1x1 convolutions, batch norms and activations act on each pixel alone, and its depthwise
3x3 convolution needs one row on either side, so each band is computed with one halo row on
each side (zero rows at the image's edges, as the stock block pads) and written into the
output. The embeddings equal the stock block's bit for bit (tests/segment).

Inference only: outside ``torch.inference_mode`` (training, ONNX export) the block runs the
stock operations on the whole image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Rows per band: 16 MiB per hidden activation of a 256-wide, 256-channel fp32 band, which
#: brings the block's peak below the later stages' (fewer, larger bands: fewer operations).
BAND_ROWS = 64


class BandedMBConv(nn.Module):
    """An MBConv block of TinyViT (the same submodules, so the same state-dict keys) that runs
    in bands of ``band_rows`` rows under ``torch.inference_mode``."""

    def __init__(self, block: nn.Module, band_rows: int = BAND_ROWS) -> None:
        super().__init__()
        for name, module in block.named_children():
            self.add_module(name, module)
        self.band_rows = band_rows

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_inference_mode_enabled():
            return self._stock(x)
        rows = x.shape[-2]
        out = torch.empty_like(x)
        for top in range(0, rows, self.band_rows):
            bottom = min(top + self.band_rows, rows)
            first, last = max(top - 1, 0), min(bottom + 1, rows)
            hidden = self.act1(self.conv1(x[..., first:last, :]))
            # the zero rows the stock convolution pads with, where the band meets the image edge
            hidden = F.pad(hidden, (0, 0, first - (top - 1), bottom + 1 - last))
            hidden = self.act2(self.conv2.bn(self._depthwise(hidden)))
            band = self.drop_path(self.conv3(hidden))
            band += x[..., top:bottom, :]
            out[..., top:bottom, :] = self.act3(band)
        return out

    def _depthwise(self, hidden: torch.Tensor) -> torch.Tensor:
        """The 3x3 depthwise convolution on a band with its halo rows (so padded along the
        columns only)."""
        conv = self.conv2.c
        padding = (0, conv.padding[1])
        return F.conv2d(hidden, conv.weight, conv.bias, conv.stride, padding, conv.dilation,
                        conv.groups)  # fmt: skip

    def _stock(self, x: torch.Tensor) -> torch.Tensor:
        """TinyViT's own MBConv forward."""
        shortcut = x
        x = self.act2(self.conv2(self.act1(self.conv1(x))))
        x = self.drop_path(self.conv3(x))
        x += shortcut
        return self.act3(x)


def band_full_resolution_blocks(encoder: nn.Module, band_rows: int = BAND_ROWS) -> nn.Module:
    """Replace the MBConv blocks of a TinyViT ``encoder``'s first stage by
    :class:`BandedMBConv` (in place); returns ``encoder``."""
    blocks = encoder.layers[0].blocks
    for index, block in enumerate(blocks):
        if type(block).__name__ == "MBConv":
            blocks[index] = BandedMBConv(block, band_rows)
    return encoder
