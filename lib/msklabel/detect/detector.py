"""A trained detector: network, how it was made, per-slice detections in voxel indices."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from msklabel.detect.classes import DetectorClass
from msklabel.detect.model import CentreNet, decode
from msklabel.detect.view import SagittalView, reorient_sagittal, with_neighbours
from msklabel.device import resolve_device
from msklabel.errors import InputError
from msklabel.volume import Volume

FORMAT = "msklabel-detector/2"
#: Older formats still read: ``/1`` (single-slice input).
READABLE = (FORMAT, "msklabel-detector/1")


@dataclass(frozen=True)
class SliceDetections:
    """Per slice and detector class, the best box and its score.

    ``boxes[k, c]`` is ``(row_min, column_min, row_max, column_max)`` in the volume's voxel
    indices (inclusive); ``scores[k, c]`` in [0, 1].
    """

    boxes: np.ndarray  # [slices, classes, 4]
    scores: np.ndarray  # [slices, classes]


@dataclass
class Detector:
    """The network and the record of its training (written into the weights file)."""

    network: CentreNet
    info: dict[str, Any] = field(default_factory=dict)
    batch: int = 16

    def __post_init__(self) -> None:
        self.network.eval()

    @property
    def device(self) -> torch.device:
        """Where the network runs."""
        return next(self.network.parameters()).device

    @torch.no_grad()
    def detect(self, volume: Volume) -> SliceDetections:
        """The best box of every class on every slice of a sagittal ``volume``."""
        volume = reorient_sagittal(volume)
        view = SagittalView.of(volume)
        images = view.to_input(volume.array)
        images = with_neighbours(window(images, volume.array), self.network.context)
        boxes, scores = [], []
        for first in range(0, images.shape[0], self.batch):
            outputs = self.network(images[first : first + self.batch].to(self.device))
            found, score = decode(*(output.cpu() for output in outputs))
            boxes.append(found[:, :, 0])
            scores.append(score[:, :, 0])
        return SliceDetections(
            view.boxes_to_volume(torch.cat(boxes).numpy()), torch.cat(scores).numpy()
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the weights (half precision) and the training record."""
        state = {
            k: (v.half() if v.is_floating_point() else v).cpu()
            for k, v in self.network.state_dict().items()
        }
        record = {
            "format": FORMAT,
            "widths": list(self.network.widths),
            "context": self.network.context,
            "state": state,
        }
        torch.save({**record, "info": json.dumps(self.info)}, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | torch.device = "auto") -> Detector:
        """Read a detector written by :meth:`save`, its network on ``device``."""
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise InputError(path, "no such detector weights file") from None
        except Exception as error:
            raise InputError(path, f"not a readable detector weights file ({error})") from None
        if not isinstance(saved, dict) or saved.get("format") not in READABLE:
            raise InputError(path, f"not a {FORMAT} weights file")
        network = CentreNet(len(DetectorClass), tuple(saved["widths"]), saved.get("context", 0))
        network.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in saved["state"].items()}
        )
        return cls(network.to(resolve_device(device)), json.loads(saved["info"]))


def window(images: torch.Tensor, array: np.ndarray) -> torch.Tensor:
    """Scale detector inputs like training: the volume's 0.5-99.5th percentiles of non-zero
    voxels to [0, 1]."""
    values = array[array > 0] if np.any(array > 0) else array.ravel()
    low, high = np.percentile(values[:: max(1, values.size // 200_000)], [0.5, 99.5])
    return ((images - float(low)) / max(float(high - low), 1e-6)).clamp(0, 1)
