"""The segmentation network, and its weights file."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from monai.networks.layers import Norm
from monai.networks.nets import UNet

from msklabel.device import resolve_device
from msklabel.errors import InputError
from msklabel.io.checksum import file_digest
from msklabel.kneeseg.classes import SegClass
from msklabel.volume import Volume

FORMAT = "msklabel-kneeseg/1"
#: Input channels: an early and a late echo.
CHANNELS = 2
#: The network's input side must be a multiple of this (four stride-2 stages).
MULTIPLE = 16

#: The early echo is the one closest to this echo time (ms), the late one closest to
#: the early one plus LATE_AFTER_MS.
EARLY_MS = 12.0
LATE_AFTER_MS = 35.0
#: The echo times (ms) of the physical-contrast training images
#: (:mod:`msklabel.kneeseg.synth`): the early echo's range, and that of the late echo's delay.
EARLY_MS_RANGE = (5.0, 20.0)
LATE_GAP_MS_RANGE = (15.0, 60.0)
#: Inference averages the network over up to MAX_PAIRS echo pairs whose early echo lies in
#: PAIR_EARLY_MS_RANGE (measured on the held-out simulation, docs/kneeseg.md: the training's
#: own early range, 5-20 ms, gave half the gain at 3 T and none at 1.5 T, where one echo
#: falls in it; each pair costs one more pass of the network).
PAIR_EARLY_MS_RANGE = (5.0, 30.0)
MAX_PAIRS = 3


def echo_pair(echoes: Sequence[Volume]) -> tuple[Volume, Volume]:
    """The early and late echo the network reads: of several echoes, the one nearest
    :data:`EARLY_MS` and the one nearest it plus :data:`LATE_AFTER_MS`; a single volume (or
    echoes without echo times) gives itself twice."""
    return echo_pairs(echoes)[0]


def echo_pairs(echoes: Sequence[Volume]) -> list[tuple[Volume, Volume]]:
    """The (early, late) echo pairs inference reads, :func:`echo_pair`'s first: each echo
    whose time lies in :data:`PAIR_EARLY_MS_RANGE`, nearest :data:`EARLY_MS` first, with the
    echo nearest it plus :data:`LATE_AFTER_MS` where their delay lies in
    :data:`LATE_GAP_MS_RANGE`; at most :data:`MAX_PAIRS`."""
    if not echoes:
        raise ValueError("no image to segment")
    timed = [(float(v.echo_time), v) for v in echoes if v.echo_time is not None]
    if len(timed) < 2:
        return [(echoes[0], echoes[0])]

    def nearest(ms: float) -> tuple[float, Volume]:
        return min(timed, key=lambda item: abs(item[0] - ms))

    first_ms, first = nearest(EARLY_MS)
    pairs = [(first, nearest(first_ms + LATE_AFTER_MS)[1])]
    for early_ms, early in sorted(timed, key=lambda item: abs(item[0] - EARLY_MS)):
        late_ms, late = nearest(early_ms + LATE_AFTER_MS)
        if (
            len(pairs) < MAX_PAIRS
            and early is not first
            and PAIR_EARLY_MS_RANGE[0] <= early_ms <= PAIR_EARLY_MS_RANGE[1]
            and LATE_GAP_MS_RANGE[0] <= late_ms - early_ms <= LATE_GAP_MS_RANGE[1]
        ):
            pairs.append((early, late))
    return pairs


def build_network(
    widths: tuple[int, ...] = (16, 32, 64, 128, 256), residual_units: int = 2
) -> UNet:
    """MONAI's 2D U-Net with batch norm, ``len(widths) - 1`` stride-2 stages."""
    return UNet(
        spatial_dims=2,
        in_channels=CHANNELS,
        out_channels=len(SegClass),
        channels=widths,
        strides=(2,) * (len(widths) - 1),
        num_res_units=residual_units,
        norm=Norm.BATCH,
    )


@dataclass
class KneeSegmenter:
    """A trained network and what is known of its training (``info``: JSON-ready)."""

    network: torch.nn.Module
    widths: tuple[int, ...]
    residual_units: int
    info: dict = field(default_factory=dict)
    #: ``kneeseg:`` and the first 16 hex digits of the weights file's SHA-256 (``kneeseg:new``
    #: before it is saved).
    model_id: str = "kneeseg:new"

    @classmethod
    def new(cls, widths: tuple[int, ...], residual_units: int) -> KneeSegmenter:
        return cls(build_network(widths, residual_units), tuple(widths), residual_units)

    @property
    def device(self) -> torch.device:
        """Where the network runs."""
        return next(self.network.parameters()).device

    def copy(self) -> KneeSegmenter:
        """An independent copy (same weights, ``info``, ``model_id`` and device)."""
        twin = KneeSegmenter.new(self.widths, self.residual_units)
        twin.network.to(self.device).load_state_dict(self.network.state_dict())
        twin.info, twin.model_id = dict(self.info), self.model_id
        return twin

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the weights (float16) and ``info`` to ``path``."""
        state = {
            k: (v.half() if v.is_floating_point() else v).cpu()
            for k, v in self.network.state_dict().items()
        }
        record = {
            "format": FORMAT,
            "widths": list(self.widths),
            "residual_units": self.residual_units,
            "state": state,
            "info": json.dumps(self.info),
        }
        torch.save(record, path)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], device: str | torch.device = "auto"
    ) -> KneeSegmenter:
        """Read weights written by :meth:`save`, the network on ``device``; :class:`InputError`
        naming ``path`` if it is not such a file."""
        try:
            saved = torch.load(Path(path), map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise InputError(path, "no such segmentation weights file") from None
        except Exception as error:
            raise InputError(path, f"not a readable segmentation weights file ({error})") from None
        if not isinstance(saved, dict) or saved.get("format") != FORMAT:
            raise InputError(path, f"not a {FORMAT} weights file")
        segmenter = cls.new(tuple(saved["widths"]), int(saved["residual_units"]))
        segmenter.network.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in saved["state"].items()}
        )
        segmenter.network.to(resolve_device(device)).eval()
        segmenter.info = json.loads(saved.get("info") or "{}")
        segmenter.model_id = f"kneeseg:{file_digest(path)[:16]}"
        return segmenter
