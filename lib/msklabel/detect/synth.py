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

from msklabel.data.labelmaps import FIBULA_LABEL, MAX_TISSUE
from msklabel.data.phantom import TISSUES
from msklabel.detect.classes import CLASS_OF_LABEL, DetectorClass
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

    ``labels`` is ``[n, BANK_SIZE, BANK_SIZE]`` (uint8, training label values); ``outside``
    and ``rim`` (bool, the same shape) mark the background outside narrow gaps
    (:func:`outside_gaps`) and the bones' cortical rims; ``span`` is ``[n, 2]``: the first and
    last bank index of each slice's volume; ``slice_mm`` each slice's spacing.
    """

    labels: torch.Tensor
    outside: torch.Tensor
    rim: torch.Tensor
    span: torch.Tensor
    slice_mm: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @classmethod
    def of(cls, volumes: Iterable[Volume]) -> SliceBank:
        """A bank of every slice of label ``volumes`` (values as in :data:`CLASS_OF_LABEL`)."""
        labels, outside, rim, spans, slice_mm, start = [], [], [], [], [], 0
        for volume in volumes:
            sagittal = reorient_sagittal(volume, check=False)
            on_grid = _on_grid(sagittal, "nearest").to(torch.uint8)
            count = on_grid.shape[0]
            labels.append(on_grid)
            outside.append(outside_gaps(on_grid))
            rim.append(cortical_rim(on_grid))
            spans.append(_span(start, count))
            slice_mm.append(torch.full((count,), sagittal.spacing[0]))
            start += count
        return cls(*(torch.cat(parts) for parts in (labels, outside, rim, spans, slice_mm)))

    def neighbour(self, index: torch.Tensor, offset: torch.Tensor | int) -> torch.Tensor:
        """The bank index ``offset`` slices from ``index`` in the same volume (clamped to
        its first or last slice)."""
        return _shifted(self.span, index, offset)


def _span(start: int, count: int) -> torch.Tensor:
    """``[count, 2]`` first and last bank index of a volume of ``count`` slices at ``start``."""
    return torch.tensor([start, start + count - 1]).expand(count, 2)


def _shifted(span: torch.Tensor, index: torch.Tensor, offset: torch.Tensor | int) -> torch.Tensor:
    bounds = span[index]
    return torch.minimum(torch.maximum(index + offset, bounds[..., 0]), bounds[..., 1])


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
            problem = self.labels.grid_mismatch(image)
            if problem is not None:
                raise ValueError(f"an image is not on the grid of its label volume: {problem}")


@dataclass(frozen=True)
class ImageBank:
    """Sagittal image slices ``[m, BANK_SIZE, BANK_SIZE]`` (float16, each volume windowed to
    [0, 1] as at inference), their label maps (uint8) on the bank's grid, and the first and
    last bank index of each slice's volume (``span``, ``[m, 2]``)."""

    images: torch.Tensor
    labels: torch.Tensor
    span: torch.Tensor

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @classmethod
    def of(cls, series: Iterable[LabelledSeries]) -> ImageBank:
        """A bank of every slice of every image of ``series``."""
        images, labels, spans, start = [], [], [], 0
        for item in series:
            on_grid = _on_grid(reorient_sagittal(item.labels, check=False), "nearest")
            count = on_grid.shape[0]
            for image in item.images:
                array = image.array.astype(np.float32)
                scaled = window(torch.from_numpy(array), array).numpy()
                sagittal = reorient_sagittal(image.with_array(scaled), check=False)
                spans.append(_span(start, count))
                start += count
                images.append(_on_grid(sagittal, "bilinear").half())
                labels.append(on_grid.to(torch.uint8))
        if not images:
            empty = torch.zeros(0, BANK_SIZE, BANK_SIZE)
            return cls(empty.half(), empty.to(torch.uint8), torch.zeros(0, 2, dtype=torch.long))
        return cls(torch.cat(images), torch.cat(labels), torch.cat(spans))

    def stacks(self, index: torch.Tensor, context: int) -> torch.Tensor:
        """``[len(index), 2 * context + 1, S, S]`` images: each slice between its neighbours."""
        offsets = torch.arange(-context, context + 1)
        return self.images[_shifted(self.span, index[:, None], offsets[None])].float()


@dataclass(frozen=True)
class Batch:
    """Synthesised images ``[n, 2 * context + 1, S, S]`` (each slice between its
    neighbours) and the middle slice's boxes ``[n, classes, 4]`` (x0, y0, x1, y1 in input
    pixel edges) with ``present`` ``[n, classes]``."""

    images: torch.Tensor
    boxes: torch.Tensor
    present: torch.Tensor


def synthesise(
    bank: SliceBank,
    count: int,
    generator: torch.Generator,
    imaged: ImageBank | None = None,
    context: int = 0,
) -> Batch:
    """``count`` random training images from ``bank``, each with ``context`` neighbouring
    slices either side; with an ``imaged`` bank that holds slices, ``IMAGED_SHARE`` of them
    are its images."""
    real = round(IMAGED_SHARE * count) if imaged is not None and len(imaged) else 0
    image, labels = _from_labels(bank, count - real, generator, context)
    if real:
        chosen = torch.randint(len(imaged), (real,), generator=generator)
        image = torch.cat([image, imaged.stacks(chosen, context)])
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
    bank: SliceBank, count: int, generator: torch.Generator, context: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` images ``[count, 2 * context + 1, S, S]`` synthesised from random slices of
    ``bank`` (slabs 0.7-4.5 mm thick) and their neighbours (spaced 1-1.43 times the
    thickness apart), and the middle slices' label maps ``[count, S, S]``."""
    centre = torch.randint(len(bank), (count,), generator=generator)
    thickness_mm = 0.7 + 3.8 * torch.rand(count, generator=generator)
    half = (thickness_mm / bank.slice_mm[centre] / 2).round().clamp(0, SLAB_HALF)
    offsets = torch.arange(-SLAB_HALF, SLAB_HALF + 1)
    weights = (offsets.abs()[None] <= half[:, None]).float()
    weights = weights / weights.sum(1, keepdim=True)
    lut = _intensities(count, generator)
    channels = 2 * context + 1
    step = torch.ones(count, dtype=torch.long)
    if context:  # drawn only here, so that single-slice training keeps its random stream
        spacing_mm = thickness_mm / (0.7 + 0.3 * torch.rand(count, generator=generator))
        step = (spacing_mm / bank.slice_mm[centre]).round().clamp(min=1).long()
    image = torch.zeros(count, channels, BANK_SIZE, BANK_SIZE)
    middles = torch.stack(
        [bank.neighbour(centre, (channel - context) * step) for channel in range(channels)], 1
    )
    for channel in range(channels):
        middle = middles[:, channel]
        for j, offset in enumerate(offsets.tolist()):
            slab = bank.labels[bank.neighbour(middle, offset)].long()
            intensity = lut.gather(1, slab.flatten(1)).view(slab.shape)
            image[:, channel] += intensity * weights[:, j, None, None]
    image = _texture(image, bank.labels[middles] > 0, generator)
    image = _cortex(image, bank.rim[middles], generator)
    image = torch.where(bank.outside[middles], surroundings(image, generator), image)
    image = _blur(image, 1.5 * torch.rand(count, generator=generator))
    return image, bank.labels[centre]


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


def cortical_rim(labels: torch.Tensor) -> torch.Tensor:
    """The 1-2 pixel rim inside each bone of ``[n, H, W]`` label maps (cortical bone)."""
    bone = torch.zeros_like(labels, dtype=torch.bool)
    for value in _BONES:
        bone |= labels == int(value)
    inner = -_max_filter(-bone[:, None].float(), 2)[:, 0] > 0.5
    return bone & ~inner


def _cortex(image: torch.Tensor, rim: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Darken the cortical ``rim`` of ``[n, C, H, W]`` images on most of them."""
    n = image.shape[0]
    apply = torch.rand(n, 1, 1, 1, generator=generator) < 0.7
    dark = 0.15 * torch.rand(n, 1, 1, 1, generator=generator)
    return torch.where(rim & apply, dark, image)


def _smooth_noise(n: int, cells: int, size: int, generator: torch.Generator) -> torch.Tensor:
    coarse = torch.randn(n, 1, cells, cells, generator=generator)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[:, 0]


def _texture(image: torch.Tensor, tissue: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Fine multiplicative texture inside labelled tissue of ``[n, C, H, W]`` images (marrow,
    cartilage heterogeneity), the same through an image's neighbouring slices."""
    n, size = image.shape[0], image.shape[-1]
    grain = _smooth_noise(n, 48, size, generator) + 0.5 * _smooth_noise(n, 96, size, generator)
    amount = 0.3 * torch.rand(n, 1, 1, 1, generator=generator)
    return torch.where(tissue, image * (1 + amount * grain[:, None]).clamp(min=0), image)


def outside_gaps(labels: torch.Tensor, radius: int = 4) -> torch.Tensor:
    """Background pixels that are not in a narrow gap between labelled structures (the
    morphological closing of the tissue): the joint space keeps the label map's own look.
    ``labels`` are ``[..., H, W]``."""
    tissue = (labels > 0).flatten(0, -3)[:, None].float()
    closed = -_max_filter(-_max_filter(tissue, radius), radius)
    return (closed == 0).view(labels.shape)


def _max_filter(images: torch.Tensor, radius: int) -> torch.Tensor:
    """The maximum over a square of side ``2 * radius + 1`` around each pixel of ``[n, C, H,
    W]`` images (as two one-dimensional passes)."""
    size = 2 * radius + 1
    rows = F.max_pool2d(images, (size, 1), stride=1, padding=(radius, 0))
    return F.max_pool2d(rows, (1, size), stride=1, padding=(0, radius))


def surroundings(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """What the label map leaves empty in ``[n, C, H, W]`` images: fat, muscle, fluid,
    tendons and air around the joint, the same through an image's neighbouring slices.

    On ``ANATOMICAL_SHARE`` of the images, random regions (a smooth field cut at random
    levels, each region its own intensity) crossed by thin curved dark bands (tendons, fascia,
    vessels); on the rest, smooth clutter around the label map's background intensity.
    """
    n, size = image.shape[0], image.shape[-1]
    field = sum(
        _smooth_noise(n, cells, size, generator) * torch.rand(n, 1, 1, generator=generator)
        for cells in (4, 12, 32)
    )
    smooth = image + (field * 0.25 * torch.rand(n, 1, 1, generator=generator))[:, None]
    regions = _regions(n, size, generator)
    curves = _smooth_noise(n, 10, size, generator).abs()
    band = curves < 0.08 * torch.rand(n, 1, 1, generator=generator)
    dark = 0.3 * torch.rand(n, 1, 1, generator=generator)
    regions = torch.where(band, dark.expand_as(regions), regions)[:, None]
    anatomical = (torch.rand(n, generator=generator) < ANATOMICAL_SHARE)[:, None, None, None]
    return torch.where(anatomical, regions.expand_as(image), smooth)


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
    """Per-image separable Gaussian blur of ``[n, C, H, W]`` (``sigmas``: ``[n]``)."""
    n, channels, height, width = images.shape
    kernels = _gaussian_kernels(sigmas.repeat_interleave(channels))
    radius = kernels.shape[1] // 2
    groups = n * channels
    flat = images.reshape(1, groups, height, width)  # one group per image and channel
    flat = F.conv2d(
        F.pad(flat, (radius, radius, 0, 0), mode="replicate"), kernels[:, None, None], groups=groups
    )
    flat = F.conv2d(
        F.pad(flat, (0, 0, radius, radius), mode="replicate"),
        kernels[:, None, :, None],
        groups=groups,
    )
    return flat.view(n, channels, height, width)


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
    """Map each ``[n, C, H, W]`` image's 0.5-99.5th percentiles of non-zero pixels to [0, 1]."""
    flat = images.flatten(1)
    low = torch.quantile(flat[:, ::7], 0.005, dim=1)
    high = torch.quantile(flat[:, ::7], 0.995, dim=1)
    scaled = (flat - low[:, None]) / (high - low).clamp(min=1e-6)[:, None]
    return scaled.clamp(0, 1).view_as(images)
