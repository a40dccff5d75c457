"""Sagittal label slices on one fine grid: what training images are synthesised from."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from msklabel.detect.synth import LabelledSeries
from msklabel.detect.view import SagittalView, reorient_sagittal, resample
from msklabel.kneeseg.classes import BONE_CLASSES, SegClass, class_lookup
from msklabel.kneeseg.network import echo_pair
from msklabel.labels import KneeLabel
from msklabel.volume import Volume

#: Pixel size (mm) and side of the bank's slices: a 160 mm square.
PIXEL_MM = 0.5
SIZE = 320
#: What each channel of :attr:`LabelBank.distances` holds.
DISTANCES = ("bone_depth", "from_joint", "from_tissue")
#: Gaps between structures narrower than twice this many pixels are the joint space.
GAP_RADIUS = 4


@dataclass(frozen=True)
class LabelBank:
    """Every sagittal slice of some label volumes, in display orientation (rows inferior,
    columns posterior) on a ``SIZE`` square of ``PIXEL_MM`` pixels. Beyond a label map's
    field of view its edge is continued (a bone cut by the field of view goes on as a
    shaft, as in a real image).

    ``labels`` ``[n, SIZE, SIZE]`` hold training label values (uint8); ``span`` ``[n, 2]`` the
    first and last bank index of each slice's volume; ``slice_mm`` ``[n]`` its slice spacing;
    ``known`` ``[n, classes]`` which network classes its volume labels (a label map without
    menisci says nothing about where menisci are); ``distances`` ``[n, 3, SIZE, SIZE]``
    (uint8, pixels, capped at 255) hold, per pixel, :data:`DISTANCES`: the depth inside a bone,
    the distance from cartilage or menisci and the distance from any labelled tissue, and
    ``gaps`` marks background in the narrow gaps between structures (the joint space).
    """

    labels: torch.Tensor
    span: torch.Tensor
    slice_mm: torch.Tensor
    known: torch.Tensor
    distances: torch.Tensor
    gaps: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @classmethod
    def of(cls, volumes: Iterable[Volume]) -> LabelBank:
        """A bank of every slice of label ``volumes`` (resliced sagittally where needed)."""
        lookup = torch.tensor(class_lookup())
        labels, spans, slice_mm, known, distances, gaps, start = [], [], [], [], [], [], 0
        for volume in volumes:
            sagittal = reorient_sagittal(volume, check=False)
            view = SagittalView.of(sagittal)
            on_grid = _on_grid(view, view.apply(sagittal.array), "nearest", "border")
            on_grid = on_grid.to(torch.uint8)
            count = on_grid.shape[0]
            present = torch.zeros(len(SegClass), dtype=torch.bool)
            present[lookup[on_grid.unique().long()]] = True
            present[SegClass.BACKGROUND] = True
            labels.append(on_grid)
            spans.append(torch.tensor([start, start + count - 1]).expand(count, 2))
            slice_mm.append(torch.full((count,), sagittal.spacing[0]))
            known.append(present.expand(count, -1))
            maps = [_distance_maps(labels_slice) for labels_slice in on_grid.numpy()]
            distances.append(torch.from_numpy(np.stack([m[0] for m in maps])))
            gaps.append(torch.from_numpy(np.stack([m[1] for m in maps])))
            start += count
        parts = (labels, spans, slice_mm, known, distances, gaps)
        return cls(*(torch.cat(part) for part in parts))

    @functools.cached_property
    def weights(self) -> torch.Tensor:
        """Sampling weight of each slice: slices through a bone are drawn about seven times
        as often as those beside the knee (which still teach what is not knee), and slices
        through the patella (few, and the hardest bone) twice as often again."""
        depth = self.distances[:, 0].flatten(1)
        bone = (depth < 255).any(1) & (depth > 0).any(1)
        patella = (self.labels == KneeLabel.PATELLA).flatten(1).any(1)
        return torch.where(bone, 1.0, 0.15) * torch.where(patella, 2.0, 1.0)

    def neighbour(self, index: torch.Tensor, offset: torch.Tensor | int) -> torch.Tensor:
        """The bank index ``offset`` slices from ``index`` within the same volume (clamped)."""
        bounds = self.span[index]
        return torch.minimum(torch.maximum(index + offset, bounds[..., 0]), bounds[..., 1])


def _distance_maps(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The :data:`DISTANCES` maps ``[3, S, S]`` (uint8 pixels) and the gap mask of one slice."""
    classes = np.asarray(class_lookup())[labels]
    bone = np.isin(classes, [int(c) for c in BONE_CLASSES])
    joint = np.isin(
        classes,
        [
            int(c)
            for c in (
                SegClass.FEMORAL_CARTILAGE,
                SegClass.TIBIAL_CARTILAGE,
                SegClass.PATELLAR_CARTILAGE,
                SegClass.MENISCUS,
            )
        ],
    )
    tissue = labels > 0
    maps = np.full((3, *labels.shape), 255, np.uint8)
    if bone.any():
        maps[0] = np.minimum(ndimage.distance_transform_edt(bone), 255)
    if joint.any():
        maps[1] = np.minimum(ndimage.distance_transform_edt(~joint), 255)
    if tissue.any():
        maps[2] = np.minimum(ndimage.distance_transform_edt(~tissue), 255)
    structure = np.ones((2 * GAP_RADIUS + 1,) * 2, bool)
    closed = ndimage.binary_closing(tissue, structure, border_value=0)
    return maps, closed & ~tissue


@dataclass(frozen=True)
class ImageBank:
    """Labelled real images on the bank's grid: echo pairs ``[m, 2, SIZE, SIZE]`` (float16,
    each series scaled by its early echo's 99.5th percentile; windowed as at inference when
    drawn),
    their label maps ``[m, SIZE, SIZE]`` (uint8 training label values) and ``known``
    ``[m, classes]``."""

    images: torch.Tensor
    labels: torch.Tensor
    known: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @classmethod
    def of(cls, series: Iterable[LabelledSeries]) -> ImageBank:
        """A bank of every slice of every labelled series."""
        lookup = torch.tensor(class_lookup())
        images, labels, known = [], [], []
        for item in series:
            early, late = echo_pair(item.images)
            sagittal = reorient_sagittal(item.labels, check=False)
            view = SagittalView.of(sagittal)
            on_grid = _on_grid(view, view.apply(sagittal.array), "nearest").to(torch.uint8)
            scale = float(np.percentile(early.array, 99.5)) or 1.0
            pair = [
                _on_grid(
                    view, view.apply(reorient_sagittal(echo, check=False).array) / scale, "bilinear"
                )
                for echo in (early, late)
            ]
            images.append(torch.stack(pair, 1).half())
            labels.append(on_grid)
            present = torch.zeros(len(SegClass), dtype=torch.bool)
            present[lookup[on_grid.unique().long()]] = True
            present[SegClass.BACKGROUND] = True
            known.append(present.expand(on_grid.shape[0], -1))
        if not labels:
            empty = torch.zeros(0, SIZE, SIZE)
            return cls(
                torch.zeros(0, 2, SIZE, SIZE).half(),
                empty.to(torch.uint8),
                torch.zeros(0, len(SegClass), dtype=torch.bool),
            )
        return cls(torch.cat(images), torch.cat(labels), torch.cat(known))


def _on_grid(
    view: SagittalView, display: np.ndarray, mode: str, padding: str = "zeros"
) -> torch.Tensor:
    """``[n, SIZE, SIZE]`` display-oriented slices resampled onto the bank's grid."""
    slices = torch.from_numpy(np.ascontiguousarray(display).astype(np.float32))[:, None]
    return resample(slices, view.display_spacing, SIZE * PIXEL_MM, mode, SIZE, padding=padding)[
        :, 0
    ]
