"""The prepared mask decoder: the stock decoder's logits up to summation order (the same masks),
its image side once per embedding, never another embedding's or older weights' preparation."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from msklabel.bench.measure import count_flops
from msklabel.labels import BONES, KneeLabel
from msklabel.segment import Box, LabelPrompt, Point, Segmenter
from msklabel.segment.backends.prepared_decoder import PreparedDecoder, prepared_decoder, supports

#: On the sample's middle slice: the femur's box (row_min, column_min, row_max, column_max),
#: two clicks inside it and one in the tibia.
FEMUR_BOX = (0, 80, 130, 148)
FEMUR_CLICKS = ((60, 115), (100, 120))
TIBIA_CLICK = (200, 130)
#: Largest logit difference from the stock decoder, relative to the largest logit, and largest
#: score difference (measured on 140 random boxes and clicks on the sample: 1.1e-6 and 5e-7).
RELATIVE = 1e-5
SCORE = 1e-5


@pytest.fixture(scope="module")
def unprepared(segmenter) -> Segmenter:
    """The test session's segmenter with the stock decoder, sharing its embedding cache."""
    backend = copy.copy(segmenter.backend)
    backend.prepare_decoder = False
    return Segmenter(backend, segmenter.cache)


@pytest.fixture(scope="module")
def network(litemedsam) -> torch.nn.Module:
    """A copy of LiteMedSAM's network that tests may change."""
    return copy.deepcopy(litemedsam.network)


@pytest.fixture(scope="module")
def embeddings(segmenter, sample_knee) -> list[torch.Tensor]:
    """Three embeddings: the sample's middle slice and the next, and the first mirrored."""
    middle = sample_knee.shape[0] // 2
    encoded = segmenter.session(sample_knee).embeddings([middle, middle + 1])
    return [*encoded, torch.flip(encoded[0], [-1])]


def _phantom_prompts(phantom) -> tuple[object, list[LabelPrompt]]:
    """A box, a positive click and a positive plus a negative click per bone, on the slice
    where the smallest bone is largest."""
    labels = phantom.labels.array
    index = int(np.stack([(labels == bone).sum(axis=(1, 2)) for bone in BONES]).min(0).argmax())
    prompts = []
    for bone, other in zip(BONES, BONES[1:] + BONES[:1], strict=True):
        inside, outside = (_central_pixel(labels[index] == label) for label in (bone, other))
        prompts += [
            LabelPrompt(bone, boxes=[Box.around(labels[index] == bone, index, 2.0)]),
            LabelPrompt(bone, points=[Point(index, *inside)]),
            LabelPrompt(bone, points=[Point(index, *inside), Point(index, *outside, False)]),
        ]
    return phantom.echoes[0], prompts


def _sample_prompts(volume) -> tuple[object, list[LabelPrompt]]:
    middle = volume.shape[0] // 2
    clicks = [Point(middle, *click) for click in FEMUR_CLICKS]
    femur = KneeLabel.FEMUR
    return volume, [
        LabelPrompt(femur, boxes=[Box(middle, *FEMUR_BOX)]),
        LabelPrompt(femur, points=clicks[:1]),
        LabelPrompt(femur, points=[*clicks, Point(middle, *TIBIA_CLICK, False)]),
    ]


def _central_pixel(mask: np.ndarray) -> tuple[int, int]:
    """The pixel of ``mask`` nearest its centroid."""
    rows, columns = np.nonzero(mask)
    nearest = np.argmin((rows - rows.mean()) ** 2 + (columns - columns.mean()) ** 2)
    return int(rows[nearest]), int(columns[nearest])


@pytest.mark.slow
@pytest.mark.parametrize("image", ["phantom", "sample"])
def test_masks_and_scores_equal_the_stock_decoders(
    image, segmenter, unprepared, knee_phantom, sample_knee
):
    # the same arithmetic in another layout: logits within float rounding, the same masks
    volume, prompts = (
        _phantom_prompts(knee_phantom) if image == "phantom" else _sample_prompts(sample_knee)
    )
    prepared_session, stock_session = segmenter.session(volume), unprepared.session(volume)
    for prompt in prompts:
        (index,) = prompt.slices()
        on_slice = prompt.on_slice(index)
        prepared = prepared_session.predict_slice(index, on_slice)
        stock = stock_session.predict_slice(index, on_slice)
        assert prepared.mask.any(), prompt
        scale = np.abs(stock.logits).max()
        np.testing.assert_allclose(prepared.logits, stock.logits, atol=RELATIVE * scale, rtol=0)
        np.testing.assert_array_equal(prepared.mask, stock.mask, err_msg=str(prompt))
        assert prepared.score == pytest.approx(stock.score, abs=SCORE), prompt


@pytest.mark.slow
def test_every_output_of_a_lone_click_equals_the_stock_decoders(network, embeddings):
    # SAM's multimask answer to a lone click (LiteMedSAM itself is only given boxes)
    prepared = PreparedDecoder(network.prompt_encoder, network.mask_decoder)
    for points in (_points([[120.0, 80.0]], [1]), _points([[120.0, 80.0], [60.0, 40.0]], [1, 0])):
        for multimask in (True, False):
            got = prepared(embeddings[1], points, None, multimask)
            expected = _stock(network, embeddings[1], points, None, multimask)
            assert got[0].shape[1] == (3 if multimask else 1)
            _assert_close(got, expected)


@pytest.mark.slow
def test_the_image_side_runs_once_per_embedding_and_never_for_another(network, embeddings):
    prepared = PreparedDecoder(network.prompt_encoder, network.mask_decoder, slots=2)
    order = [0, 0, 1, 0, 2, 0, 1]  # 2 evicts 1 (the least recently used), 1 then evicts 2
    boxes = [torch.tensor([[60.0 + step, 10.0, 150.0, 130.0 + step]]) for step in range(len(order))]
    with _image_side_calls(network) as calls:
        answers = [
            prepared(embeddings[k], None, box, False) for k, box in zip(order, boxes, strict=True)
        ]
    # prepared at the first sight of 0, 1 and 2, and again for 1 after its eviction
    assert calls == {"token_to_image.k": 4, "token_to_image.v": 4, "image_to_token.q": 4}
    for k, box, got in zip(order, boxes, answers, strict=True):
        _assert_close(got, _stock(network, embeddings[k], None, box, False))
    with _image_side_calls(network) as calls:
        for box in boxes[:3]:
            _stock(network, embeddings[0], None, box, False)
    assert calls == {"token_to_image.k": 3, "token_to_image.v": 3, "image_to_token.q": 3}


@pytest.mark.slow
def test_a_changed_embedding_or_weight_is_prepared_again(network, embeddings):
    prepared = PreparedDecoder(network.prompt_encoder, network.mask_decoder)
    box = torch.tensor([[60.0, 10.0, 150.0, 130.0]])
    embedding = embeddings[1].clone()  # an ordinary tensor, as training makes them
    before = prepared(embedding, None, box, False)
    embedding.mul_(0.5)
    changed = prepared(embedding, None, box, False)
    assert not torch.allclose(before[0], changed[0])
    _assert_close(changed, _stock(network, embedding, None, box, False))
    # an optimiser step or load_state_dict writes the weights in place (a new version)
    for name in ("cross_attn_token_to_image", "cross_attn_image_to_token"):
        state = copy.deepcopy(network.state_dict())
        attention = getattr(network.mask_decoder.transformer.layers[0], name)
        with torch.no_grad():
            attention.k_proj.bias.add_(0.5)
            attention.q_proj.bias.add_(0.5)
            attention.v_proj.weight.mul_(1.5)
        moved = prepared(embedding, None, box, False)
        assert not torch.allclose(moved[0], changed[0]), name
        _assert_close(moved, _stock(network, embedding, None, box, False))
        network.load_state_dict(state)
        assert torch.equal(prepared(embedding, None, box, False)[0], changed[0]), name


def test_each_network_has_its_own_prepared_decoder(litemedsam):
    # fine-tuning trains a deep copy of the network: it must not reuse the original's
    trained = copy.deepcopy(litemedsam.network)
    mine, theirs = prepared_decoder(litemedsam.network), prepared_decoder(trained)
    assert mine is prepared_decoder(litemedsam.network)
    assert theirs is not mine and theirs.mask_decoder is trained.mask_decoder
    trained.mask_decoder = copy.deepcopy(trained.mask_decoder)
    assert prepared_decoder(trained).mask_decoder is trained.mask_decoder


def test_a_decoder_with_its_own_forward_is_left_to_itself(network):
    decoder = copy.deepcopy(network.mask_decoder)
    decoder.__class__ = type("MaskDecoder", (type(decoder),), {"__module__": "elsewhere"})
    assert supports(network.mask_decoder) and not supports(decoder)
    with pytest.raises(TypeError, match="not a stock SAM mask decoder"):
        PreparedDecoder(network.prompt_encoder, decoder)


def test_a_decoder_with_another_upscaling_is_left_to_itself(network):
    decoder = copy.deepcopy(network.mask_decoder)
    assert supports(decoder)
    decoder.output_upscaling[4] = torch.nn.ReLU()
    assert not supports(decoder)
    decoder = copy.deepcopy(network.mask_decoder)
    first = decoder.output_upscaling[0]
    decoder.output_upscaling[0] = torch.nn.ConvTranspose2d(
        first.in_channels, first.out_channels, kernel_size=4, stride=2, padding=1
    )
    assert not supports(decoder)


def test_a_prepared_pass_costs_the_stock_pass_less_the_image_side(network):
    embedding = torch.randn(256, 64, 64)  # the count depends on shapes alone
    prepared = PreparedDecoder(network.prompt_encoder, network.mask_decoder)
    box = torch.tensor([[60.0, 10.0, 150.0, 130.0]])
    preparing = count_flops(lambda: prepared.prepare(embedding))
    passing = count_flops(lambda: prepared(embedding, None, box, False))
    stock = count_flops(lambda: _stock(network, embedding, None, box, False))
    print(f"GFLOP: stock pass {stock / 1e9:.3f}, prepared pass {passing / 1e9:.3f}, "
          f"preparation {preparing / 1e9:.3f}")  # fmt: skip
    # the pass computes only the mask it returns (the stock one computes all four)
    assert preparing + passing <= stock
    assert passing < 0.8 * stock


def _assert_close(got: tuple[torch.Tensor, ...], expected: tuple[torch.Tensor, ...]) -> None:
    """Logits and scores of the prepared decoder against the stock one's."""
    (logits, scores), (stock_logits, stock_scores) = got, expected
    scale = float(stock_logits.abs().max())
    torch.testing.assert_close(logits, stock_logits, atol=RELATIVE * scale, rtol=0)
    torch.testing.assert_close(scores, stock_scores, atol=SCORE, rtol=0)


def _points(xy: list[list[float]], labels: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor([xy]), torch.tensor([labels])


@torch.inference_mode()
def _stock(network, embedding, points, boxes, multimask) -> tuple[torch.Tensor, torch.Tensor]:
    sparse, dense = network.prompt_encoder(points=points, boxes=boxes, masks=None)
    return network.mask_decoder(
        image_embeddings=embedding[None],
        image_pe=network.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=multimask,
    )


@contextmanager
def _image_side_calls(network) -> Iterator[dict[str, int]]:
    """Calls of the first block's image-side projections, counted by forward hooks."""
    first = network.mask_decoder.transformer.layers[0]
    projections = {
        "token_to_image.k": first.cross_attn_token_to_image.k_proj,
        "token_to_image.v": first.cross_attn_token_to_image.v_proj,
        "image_to_token.q": first.cross_attn_image_to_token.q_proj,
    }
    calls = dict.fromkeys(projections, 0)
    handles = [
        projection.register_forward_hook(
            lambda *_, name=name: calls.update({name: calls[name] + 1})
        )
        for name, projection in projections.items()
    ]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()
