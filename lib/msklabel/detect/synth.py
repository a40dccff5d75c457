"""Training images synthesised from label maps, with the boxes of every structure.

Each training image takes a random intensity for every tissue (so no single MR contrast is
learnt) with a fine texture, a dark cortical rim on bones or not, random tissue regions and
curved bands (or smooth clutter) where the label map has nothing, except in the narrow gaps
between structures such as the joint space, a slab of neighbouring slices averaged (slice
thickness), blur, a multiplicative bias field, noise, a random gamma, sometimes inverted
contrast, and a random zoom, shift and tilt. Everything runs batched in torch from a
:class:`SliceBank`.

Where label maps come with the images they label (:class:`LabelledSeries`: the echoes of a
multi-echo series, a datastore's images), a share of every batch is those images themselves,
under the same zoom, shift, tilt and degradation (:class:`ImageBank`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from msklabel.data.phantom import TISSUES
from msklabel.detect.classes import CLASS_OF_LABEL, FIBULA_LABEL, MAX_TISSUE, DetectorClass
from msklabel.detect.detector import window
from msklabel.detect.view import SagittalView, reorient_sagittal, resample
from msklabel.labels import KneeLabel
from msklabel.volume import Volume

#: Pixel size (mm) and side of the bank's slices: a 192 mm square.
BANK_PIXEL_MM = 1.0
BANK_SIZE = 192
#: Half-width of the slab averaged for slice thickness, in bank slices.
SLAB_HALF = 2
_BONES = (KneeLabel.FEMUR, KneeLabel.TIBIA, KneeLabel.PATELLA, FIBULA_LABEL)
#: Share of training images with physical (phantom tissue table) rather than random contrast.
PHYSICAL_SHARE = 0.3
#: Share of training images whose empty space gets random tissue regions and bands.
ANATOMICAL_SHARE = 0.7
#: Intensity levels of those regions.
REGION_LEVELS = 5
#: Share of each batch taken from labelled images, when there are any.
IMAGED_SHARE = 0.25


def _tissue_table() -> tuple[torch.Tensor, torch.Tensor]:
    """Proton density and T2 per training label value (background: none; fibula: bone)."""
    pd, t2 = torch.zeros(MAX_TISSUE + 1), torch.ones(MAX_TISSUE + 1)
    tissues = {**TISSUES, FIBULA_LABEL: TISSUES[KneeLabel.TIBIA]}
    for label, tissue in tissues.items():
        pd[int(label)], t2[int(label)] = tissue.pd, tissue.t2_ms
    return pd, t2


_PD, _T2 = _tissue_table()


@dataclass(frozen=True)
class SliceBank:
    """Sagittal label slices in display orientation on one grid, ready for synthesis.

    ``labels`` is ``[n, BANK_SIZE, BANK_SIZE]`` (uint8, training label values);
    ``neighbours`` is ``[n, 2 * SLAB_HALF + 1]``: the indices of each slice's neighbours in the
    same volume (clamped at its ends); ``slice_mm`` each slice's spacing.
    """

    labels: torch.Tensor
    neighbours: torch.Tensor
    slice_mm: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @classmethod
    def of(cls, volumes: Iterable[Volume]) -> SliceBank:
        """A bank of every slice of label ``volumes`` (values as in :data:`CLASS_OF_LABEL`)."""
        labels, neighbours, slice_mm, start = [], [], [], 0
        for volume in volumes:
            sagittal = reorient_sagittal(volume, check=False)
            on_grid = _on_grid(sagittal, "nearest")
            count = on_grid.shape[0]
            labels.append(on_grid.to(torch.uint8))
            offsets = torch.arange(-SLAB_HALF, SLAB_HALF + 1)
            index = torch.arange(count)[:, None] + offsets[None]
            neighbours.append(start + index.clamp(0, count - 1))
            slice_mm.append(torch.full((count,), sagittal.spacing[0]))
            start += count
        return cls(torch.cat(labels), torch.cat(neighbours), torch.cat(slice_mm))


def _on_grid(sagittal: Volume, mode: str) -> torch.Tensor:
    """``[n, BANK_SIZE, BANK_SIZE]`` slices of a sagittal volume in display orientation."""
    view = SagittalView.of(sagittal)
    display = torch.from_numpy(view.apply(sagittal.array).astype(np.float32))[:, None]
    return resample(display, view.display_spacing, BANK_SIZE * BANK_PIXEL_MM, mode, BANK_SIZE)[:, 0]


@dataclass(frozen=True)
class LabelledSeries:
    """A label volume and the images it labels: one or more volumes on its grid (the echoes
    of a multi-echo series, other contrasts)."""

    labels: Volume
    images: tuple[Volume, ...]

    def __post_init__(self) -> None:
        if not self.images:
            raise ValueError("a labelled series needs at least one image")
        for image in self.images:
            if image.shape != self.labels.shape or not np.allclose(
                image.affine, self.labels.affine, atol=1e-3
            ):
                raise ValueError(
                    f"an image of shape {image.shape} does not lie on the grid of its label "
                    f"volume (shape {self.labels.shape})"
                )


@dataclass(frozen=True)
class ImageBank:
    """Sagittal image slices ``[m, BANK_SIZE, BANK_SIZE]`` (float16, each volume windowed to
    [0, 1] as at inference) and their label maps (uint8) on the bank's grid."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @classmethod
    def of(cls, series: Iterable[LabelledSeries]) -> ImageBank:
        """A bank of every slice of every image of ``series``."""
        images, labels = [], []
        for item in series:
            on_grid = _on_grid(reorient_sagittal(item.labels, check=False), "nearest")
            for image in item.images:
                array = image.array.astype(np.float32)
                scaled = window(torch.from_numpy(array), array).numpy()
                sagittal = reorient_sagittal(image.with_array(scaled), check=False)
                images.append(_on_grid(sagittal, "bilinear").half())
                labels.append(on_grid.to(torch.uint8))
        if not images:
            empty = torch.zeros(0, BANK_SIZE, BANK_SIZE)
            return cls(empty.half(), empty.to(torch.uint8))
        return cls(torch.cat(images), torch.cat(labels))


@dataclass(frozen=True)
class Batch:
    """Synthesised images ``[n, 1, S, S]`` and boxes ``[n, classes, 4]`` (x0, y0, x1, y1 in
    input pixel edges) with ``present`` ``[n, classes]``."""

    images: torch.Tensor
    boxes: torch.Tensor
    present: torch.Tensor


def synthesise(
    bank: SliceBank, count: int, generator: torch.Generator, imaged: ImageBank | None = None
) -> Batch:
    """``count`` random training images from ``bank``; with an ``imaged`` bank that holds
    slices, ``IMAGED_SHARE`` of them are its images."""
    real = round(IMAGED_SHARE * count) if imaged is not None and len(imaged) else 0
    image, labels = _from_labels(bank, count - real, generator)
    if real:
        chosen = torch.randint(len(imaged), (real,), generator=generator)
        image = torch.cat([image, imaged.images[chosen, None].float()])
        labels = torch.cat([labels, imaged.labels[chosen]])
    theta = _random_affine(count, generator)
    spacing = (BANK_PIXEL_MM, BANK_PIXEL_MM)
    bank_side = BANK_SIZE * BANK_PIXEL_MM
    images = resample(image, spacing, bank_side, "bilinear", theta=theta)
    labels = resample(labels[:, None].float(), spacing, bank_side, "nearest", theta=theta)
    images = _degrade(images, generator)
    boxes, present = boxes_of(labels[:, 0].long())
    return Batch(images, boxes, present)


def _from_labels(
    bank: SliceBank, count: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` images ``[count, 1, S, S]`` synthesised from random slices of ``bank``, and
    their label maps ``[count, S, S]``."""
    centre = torch.randint(len(bank), (count,), generator=generator)
    thickness_mm = 0.7 + 3.8 * torch.rand(count, generator=generator)
    half = (thickness_mm / bank.slice_mm[centre] / 2).round().clamp(0, SLAB_HALF)
    offsets = torch.arange(-SLAB_HALF, SLAB_HALF + 1)
    weights = (offsets.abs()[None] <= half[:, None]).float()
    weights = weights / weights.sum(1, keepdim=True)
    lut = _intensities(count, generator)
    image = torch.zeros(count, BANK_SIZE, BANK_SIZE)
    for j in range(2 * SLAB_HALF + 1):
        labels = bank.labels[bank.neighbours[centre, j]].long()
        image += lut.gather(1, labels.flatten(1)).view(labels.shape) * weights[:, j, None, None]
    labels = bank.labels[centre]
    image = _texture(image, labels > 0, generator)
    image = _cortex(image, labels, generator)
    image = torch.where(outside_gaps(labels), surroundings(image, generator), image)
    image = _blur(image[:, None], 1.5 * torch.rand(count, generator=generator))
    return image, labels


def _intensities(count: int, generator: torch.Generator) -> torch.Tensor:
    """``[count, MAX_TISSUE + 1]`` tissue intensities: random for most images, and for
    ``PHYSICAL_SHARE`` of them spin-echo signals ``PD * exp(-TE / T2)`` of the phantom's tissue
    table at a random echo time, each tissue jittered by up to 15%."""
    lut = torch.rand(count, MAX_TISSUE + 1, generator=generator)
    echo_ms = 5.0 + 70.0 * torch.rand(count, 1, generator=generator)
    physical = _PD[None] * torch.exp(-echo_ms / _T2[None]) / 3000.0
    physical = physical * (0.85 + 0.3 * torch.rand(physical.shape, generator=generator))
    chosen = torch.rand(count, 1, generator=generator) < PHYSICAL_SHARE
    return torch.where(chosen, physical, lut)


def boxes_of(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes (x0, y0, x1, y1; pixel edges) of each detector class in ``[n, H, W]`` label maps,
    and whether the class is present."""
    n = labels.shape[0]
    classes = len(DetectorClass)
    mapping = torch.full((MAX_TISSUE + 1,), -1, dtype=torch.long)
    for label, detector_class in CLASS_OF_LABEL.items():
        mapping[int(label)] = int(detector_class)
    target = mapping[labels.clamp(0, MAX_TISSUE)]
    boxes = torch.zeros(n, classes, 4)
    present = torch.zeros(n, classes, dtype=torch.bool)
    for c in range(classes):
        mask = target == c
        rows, columns = mask.any(2), mask.any(1)
        present[:, c] = rows.any(1)
        boxes[:, c, 0] = _first(columns)
        boxes[:, c, 1] = _first(rows)
        boxes[:, c, 2] = columns.shape[1] - _first(columns.flip(1))
        boxes[:, c, 3] = rows.shape[1] - _first(rows.flip(1))
    return boxes, present


def _first(flags: torch.Tensor) -> torch.Tensor:
    return flags.float().argmax(1).float()


def _cortex(image: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Darken a 1-2 pixel rim inside each bone on most images (cortical bone)."""
    bone = torch.zeros_like(labels, dtype=torch.bool)
    for value in _BONES:
        bone |= labels == int(value)
    inner = -F.max_pool2d(-bone[:, None].float(), 5, stride=1, padding=2)[:, 0] > 0.5
    rim = bone & ~inner
    n = image.shape[0]
    apply = torch.rand(n, generator=generator) < 0.7
    dark = 0.15 * torch.rand(n, generator=generator)
    return torch.where(rim & apply[:, None, None], dark[:, None, None], image)


def _smooth_noise(n: int, cells: int, size: int, generator: torch.Generator) -> torch.Tensor:
    coarse = torch.randn(n, 1, cells, cells, generator=generator)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[:, 0]


def _texture(image: torch.Tensor, tissue: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Fine multiplicative texture inside labelled tissue (marrow, cartilage heterogeneity)."""
    n, size = image.shape[0], image.shape[-1]
    grain = _smooth_noise(n, 48, size, generator) + 0.5 * _smooth_noise(n, 96, size, generator)
    amount = 0.3 * torch.rand(n, 1, 1, generator=generator)
    return torch.where(tissue, image * (1 + amount * grain).clamp(min=0), image)


def outside_gaps(labels: torch.Tensor, radius: int = 4) -> torch.Tensor:
    """Background pixels that are not in a narrow gap between labelled structures (the
    morphological closing of the tissue): the joint space keeps the label map's own look."""
    tissue = (labels > 0)[:, None].float()
    size = 2 * radius + 1
    dilated = F.max_pool2d(tissue, size, stride=1, padding=radius)
    closed = -F.max_pool2d(-dilated, size, stride=1, padding=radius)
    return closed[:, 0] == 0


def surroundings(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """What the label map leaves empty: fat, muscle, fluid, tendons and air around the joint.

    On ``ANATOMICAL_SHARE`` of the images, random regions (a smooth field cut at random
    levels, each region its own intensity) crossed by thin curved dark bands (tendons, fascia,
    vessels); on the rest, smooth clutter around the label map's background intensity.
    """
    n, size = image.shape[0], image.shape[-1]
    field = sum(
        _smooth_noise(n, cells, size, generator) * torch.rand(n, 1, 1, generator=generator)
        for cells in (4, 12, 32)
    )
    smooth = image + field * 0.25 * torch.rand(n, 1, 1, generator=generator)
    regions = _regions(n, size, generator)
    curves = _smooth_noise(n, 10, size, generator).abs()
    band = curves < 0.08 * torch.rand(n, 1, 1, generator=generator)
    dark = 0.3 * torch.rand(n, 1, 1, generator=generator)
    regions = torch.where(band, dark.expand_as(regions), regions)
    anatomical = (torch.rand(n, generator=generator) < ANATOMICAL_SHARE)[:, None, None]
    return torch.where(anatomical, regions, smooth)


def _regions(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``[n, size, size]`` piecewise-constant images of ``REGION_LEVELS`` random intensities."""
    shape = _smooth_noise(n, 6, size, generator) + 0.4 * _smooth_noise(n, 16, size, generator)
    cuts = torch.sort(torch.randn(n, REGION_LEVELS - 1, generator=generator), 1).values
    region = (shape[:, None] > cuts[:, :, None, None]).sum(1)
    values = torch.rand(n, REGION_LEVELS, generator=generator)
    return values.gather(1, region.flatten(1)).view(n, size, size)


def _gaussian_kernels(sigmas: torch.Tensor, radius: int = 4) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernels = torch.exp(-(x[None] ** 2) / (2 * sigmas.clamp(min=1e-3)[:, None] ** 2))
    return kernels / kernels.sum(1, keepdim=True)


def _blur(images: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Per-image separable Gaussian blur of ``[n, 1, H, W]``."""
    n = images.shape[0]
    kernels = _gaussian_kernels(sigmas)
    radius = kernels.shape[1] // 2
    flat = images.transpose(0, 1)  # [1, n, H, W]: one group per image
    flat = F.conv2d(
        F.pad(flat, (radius, radius, 0, 0), mode="replicate"), kernels[:, None, None], groups=n
    )
    flat = F.conv2d(
        F.pad(flat, (0, 0, radius, radius), mode="replicate"), kernels[:, None, :, None], groups=n
    )
    return flat.transpose(0, 1)


def _random_affine(n: int, generator: torch.Generator) -> torch.Tensor:
    """Zoom (a field of view of 110-190 mm), shift and tilt (+-12 degrees)."""
    bank_side = BANK_SIZE * BANK_PIXEL_MM
    zoom = (110 + 80 * torch.rand(n, generator=generator)) / bank_side
    angle = torch.deg2rad(24 * torch.rand(n, generator=generator) - 12)
    shift = 0.25 * (2 * torch.rand(n, 2, generator=generator) - 1)
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos, -sin, shift[:, 0]
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin, cos, shift[:, 1]
    return theta


def _degrade(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Bias field, noise, gamma, inversion, then the robust [0, 1] window of inference."""
    n, _, size, _ = images.shape
    bias = torch.exp(
        0.4 * torch.rand(n, 1, 1, generator=generator) * _smooth_noise(n, 3, size, generator)
    )
    images = images * bias[:, None]
    sigma = 0.08 * torch.rand(n, 1, 1, 1, generator=generator)
    images = images + sigma * torch.randn(images.shape, generator=generator)
    images = normalise(images.abs())
    gamma = torch.exp(0.5 * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1))
    images = images.clamp(0, 1) ** gamma
    invert = (torch.rand(n, generator=generator) < 0.2)[:, None, None, None]
    return torch.where(invert, 1 - images, images)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """Map each ``[n, 1, H, W]`` image's 0.5-99.5th percentiles of non-zero pixels to [0, 1]."""
    flat = images.flatten(1)
    low = torch.quantile(flat[:, ::7], 0.005, dim=1)
    high = torch.quantile(flat[:, ::7], 0.995, dim=1)
    scaled = (flat - low[:, None]) / (high - low).clamp(min=1e-6)[:, None]
    return scaled.clamp(0, 1).view_as(images)
