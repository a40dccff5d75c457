"""Training images synthesised from label maps: two echoes of a random knee MR.

Each image pair (an early and a late echo) is made from a random slab of sagittal label
slices (:class:`~msklabel.kneeseg.bank.LabelBank`):

- every tissue takes a proton density and a T2 drawn from broad ranges for its kind (marrow,
  cartilage, meniscus, muscle, fat, fluid, tendon), and on a share of images fully random
  intensities with a random decay, so that no single contrast is learnt (all bones share
  one marrow, within 10 %, and on a share of images the fat matches it); the echoes are
  ``PD * exp(-TE / T2)`` at a random early and late echo time, and on a share of images the
  same echo twice (what a single-echo series gives at inference);
- bones get a dark cortical rim of random width and a marrow texture; cartilage and menisci a
  fine texture;
- the space the label map leaves empty gets random surroundings (regions of fat, muscle,
  fluid and tendon crossed by thin dark bands), a film of joint fluid of random width along
  the cartilage and menisci, fluid or dark tissue in the narrow gaps between structures, and
  air beyond a random distance from the knee;
- slices of the slab (0.6-5 mm thick) are averaged (partial volume across the slice), the
  result blurred in-plane, zoomed (0.48-0.75 mm pixels), rotated, shifted and elastically
  deformed onto the network's grid, then given a bias field, Rician noise and a random gamma;
- marrow gets a slow random variation (red marrow, oedema-like patches);
- on a share of physical-contrast images fat and fatty marrow are suppressed (spectral fat
  saturation), keeping a random few to a few tens of % of their signal;
- on a share of images the fat of marrow and of fat tissue is displaced along one in-plane
  axis (the readout) as the fat-water chemical shift displaces it (3.4 ppm over the
  bandwidth per pixel: about 0.4-1 mm at clinical bandwidths), while the labels stay where
  the anatomy is: at a bone's surface the marrow's signal then covers the cartilage on one
  side and leaves a dark gap on the other.

The targets are the share of each network class in every output pixel (the same slab
averaging and resampling applied to the labels' one-hot maps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from msklabel.data.labelmaps import FIBULA_LABEL, MAX_TISSUE
from msklabel.kneeseg.bank import PIXEL_MM, SIZE, ImageBank, LabelBank
from msklabel.kneeseg.classes import SegClass, class_lookup
from msklabel.kneeseg.network import EARLY_MS_RANGE, LATE_GAP_MS_RANGE
from msklabel.labels import KneeLabel

#: Side of the synthesised images (pixels) and their nominal pixel size (mm).
OUT_SIZE = 192
OUT_PIXEL_MM = 0.6
#: The pixel sizes (mm) training images take (a random zoom around OUT_PIXEL_MM).
TRAINED_PIXEL_MM = (0.8 * OUT_PIXEL_MM, 1.25 * OUT_PIXEL_MM)
#: Slab thickness range (mm) and the most bank slices either side a slab takes.
SLAB_MM = (0.6, 5.0)
SLAB_HALF = 4
#: Share of images with fully random intensities (else tissue-typed physical ones).
RANDOM_CONTRAST_SHARE = 0.4
#: Share of images whose two channels are the same echo.
SINGLE_ECHO_SHARE = 0.25
#: Share of each batch taken from labelled real images, when there are any.
IMAGED_SHARE = 0.5
#: Share of images whose fat has the intensity of the marrow.
FAT_LIKE_MARROW_SHARE = 0.35
#: Share of physical-contrast images with fat suppression, and the range of the signal share
#: that fat and fatty marrow keep (spectral fat saturation leaves a few to a few tens of %).
FAT_SUPPRESSED_SHARE = 0.25
FAT_RESIDUAL = (0.03, 0.35)
#: Share of images with a fat-water chemical shift, its largest displacement (mm) and the
#: range of the fat fraction of marrow (the rest of its signal, water, stays in place).
CHEMICAL_SHIFT_SHARE = 0.6
CHEMICAL_SHIFT_MM = 1.5
MARROW_FAT_FRACTION = (0.5, 0.95)

# Tissue kinds and their (PD, T2 ms) ranges for the physical contrast.
_MARROW, _CARTILAGE, _MENISCUS, _MUSCLE, _FAT, _FLUID, _TENDON, _CORTEX = range(8)
_RANGES = torch.tensor(
    [
        # pd_low, pd_high, t2_low, t2_high
        [0.55, 1.00, 35.0, 110.0],  # marrow (fatty)
        [0.45, 0.90, 22.0, 65.0],  # cartilage
        [0.10, 0.55, 4.0, 22.0],  # meniscus
        [0.35, 0.80, 24.0, 45.0],  # muscle
        [0.60, 1.00, 45.0, 140.0],  # fat
        [0.65, 1.00, 150.0, 1200.0],  # fluid
        [0.02, 0.30, 2.0, 15.0],  # tendon, ligament
        [0.00, 0.12, 1.0, 10.0],  # cortical bone
    ]
)
#: Kind of each training label value (background rows are filled separately).
_KIND_OF_LABEL = {
    KneeLabel.FEMUR: _MARROW,
    KneeLabel.TIBIA: _MARROW,
    KneeLabel.PATELLA: _MARROW,
    FIBULA_LABEL: _MARROW,
    KneeLabel.FEMORAL_CARTILAGE: _CARTILAGE,
    KneeLabel.MEDIAL_TIBIAL_CARTILAGE: _CARTILAGE,
    KneeLabel.LATERAL_TIBIAL_CARTILAGE: _CARTILAGE,
    KneeLabel.PATELLAR_CARTILAGE: _CARTILAGE,
    KneeLabel.MEDIAL_MENISCUS: _MENISCUS,
    KneeLabel.LATERAL_MENISCUS: _MENISCUS,
    KneeLabel.MUSCLE: _MUSCLE,
    KneeLabel.FAT: _FAT,
}
_BONE_LABELS = (KneeLabel.FEMUR, KneeLabel.TIBIA, KneeLabel.PATELLA, FIBULA_LABEL)
_JOINT_LABELS = (
    KneeLabel.FEMORAL_CARTILAGE,
    KneeLabel.MEDIAL_TIBIAL_CARTILAGE,
    KneeLabel.LATERAL_TIBIAL_CARTILAGE,
    KneeLabel.PATELLAR_CARTILAGE,
    KneeLabel.MEDIAL_MENISCUS,
    KneeLabel.LATERAL_MENISCUS,
)
#: Extra intensity-table rows after the label values: cortex, fluid, gap tissue, air.
_CORTEX_ROW, _FLUID_ROW, _GAP_ROW, _AIR_ROW = range(MAX_TISSUE + 1, MAX_TISSUE + 5)
_ROWS = MAX_TISSUE + 5
#: Surrounding regions: how many, and the table rows they take their intensity from.
_REGIONS = 6
_REGION_ROWS = torch.tensor(
    [KneeLabel.FAT, KneeLabel.FAT, KneeLabel.MUSCLE, KneeLabel.MUSCLE, _FLUID_ROW, _GAP_ROW]
)


@dataclass(frozen=True)
class Batch:
    """Synthesised images ``[n, 2, S, S]`` (early and late echo, windowed like inference),
    per-class shares ``[n, classes, S, S]`` and the classes each image's labels know
    ``[n, classes]``."""

    images: torch.Tensor
    targets: torch.Tensor
    known: torch.Tensor


def synthesise(
    bank: LabelBank, count: int, generator: torch.Generator, imaged: ImageBank | None = None
) -> Batch:
    """``count`` random training images and their targets from ``bank``; with an ``imaged``
    bank that holds slices, :data:`IMAGED_SHARE` of them are its real images (under the same
    geometric changes, bias field and noise)."""
    g = generator
    real = round(IMAGED_SHARE * count) if imaged is not None and len(imaged) else 0
    image, shares, known, tissue = _from_labels(bank, count - real, g)
    if real:
        chosen = torch.randint(len(imaged), (real,), generator=g)
        labels = imaged.labels[chosen].long()
        lookup = torch.tensor(class_lookup())
        image = torch.cat([image, imaged.images[chosen].float()])
        shares = torch.cat([shares, _one_hot(lookup[labels])])
        known = torch.cat([known, imaged.known[chosen]])
        tissue = torch.cat([tissue, labels > 0])
    grid = _sampling_grid(tissue, g)
    image = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    targets = F.grid_sample(
        shares, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    outside = 1.0 - targets.sum(1)
    targets[:, SegClass.BACKGROUND] += outside.clamp(min=0)
    images = _degrade(image, g)
    single = (_uniform(count, g) < SINGLE_ECHO_SHARE)[:, None, None, None]
    images = torch.where(single, images[:, :1].expand_as(images), images)
    return Batch(images.contiguous(), targets, known)


def _one_hot(classes: torch.Tensor) -> torch.Tensor:
    return F.one_hot(classes, len(SegClass)).permute(0, 3, 1, 2).float()


def _from_labels(
    bank: LabelBank, count: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` echo pairs ``[n, 2, S, S]`` synthesised from random slabs of ``bank``, their
    class shares ``[n, C, S, S]``, known classes ``[n, C]`` and middle slices' tissue."""
    g = generator
    centre = torch.multinomial(bank.weights, count, replacement=True, generator=g)
    thickness = SLAB_MM[0] + (SLAB_MM[1] - SLAB_MM[0]) * _uniform(count, g)
    half = (thickness / bank.slice_mm[centre] / 2).round().clamp(0, SLAB_HALF)
    offsets = torch.arange(-SLAB_HALF, SLAB_HALF + 1)
    weights = (offsets.abs()[None] <= half[:, None]).float()
    weights = weights / weights.sum(1, keepdim=True)

    table = _intensity_table(count, g)  # [n, 2, rows]
    surroundings = _surroundings(count, table, g)  # [n, 2, S, S]
    film_px = (2.5 / PIXEL_MM * _uniform(count, g)).round()
    cortex_px = (1 + 3 * _uniform(count, g)).round()
    gap_fluid = _uniform(count, g) < 0.5
    air_px = (12.0 + 45.0 * _uniform(count, g)) / PIXEL_MM
    air_px = torch.where(_uniform(count, g) < 0.7, air_px, torch.full_like(air_px, 1e9))
    texture = _texture(count, g)  # [n, S, S] multiplicative, around 1
    marrow = _marrow(count, g)  # [n, S, S] multiplicative, on bones only
    fat_grid, fat_fraction = _chemical_shift(count, g)

    lookup = torch.tensor(class_lookup())
    image = torch.zeros(count, 2, SIZE, SIZE)
    fat_image = torch.zeros_like(image)
    shares = torch.zeros(count, len(SegClass), SIZE, SIZE)
    for j, offset in enumerate(offsets.tolist()):
        w = weights[:, j]
        if not bool((w > 0).any()):
            continue
        index = bank.neighbour(centre, offset)
        labels = bank.labels[index].long()  # [n, S, S]
        distances = bank.distances[index].float()
        rows = _rows(labels, distances, bank.gaps[index], film_px, cortex_px, gap_fluid, air_px)
        values = table.gather(2, rows.flatten(1)[:, None].expand(-1, 2, -1)).view(image.shape)
        values = torch.where((rows == 0)[:, None], surroundings, values)
        tissue = (labels > 0)[:, None]
        values = torch.where(tissue, values * texture[:, None], values)
        bone = _is_bone(rows)
        values = torch.where(bone[:, None], values * marrow[:, None], values)
        fraction = torch.where(bone, fat_fraction[:, None, None], (rows == KneeLabel.FAT).float())
        fat = w[:, None, None, None] * values * fraction[:, None]
        image += w[:, None, None, None] * values - fat
        fat_image += fat
        shares.view(count, len(SegClass), -1).scatter_add_(
            1, lookup[labels].view(count, 1, -1), w[:, None, None].expand(-1, 1, SIZE * SIZE)
        )
    image += F.grid_sample(fat_image, fat_grid, padding_mode="border", align_corners=False)
    image = _blur(image, 0.6 * _uniform(count, g) / PIXEL_MM)
    return image, shares, bank.known[centre], bank.labels[centre] > 0


def _chemical_shift(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the sampling grid ``[n, S, S, 2]`` that displaces fat along its readout (a
    random axis and sign; none on images without a shift) and the fat fraction of marrow."""
    g = generator
    shifted = _uniform(count, g) < CHEMICAL_SHIFT_SHARE
    distance = torch.where(shifted, CHEMICAL_SHIFT_MM * _uniform(count, g), 0.0)
    sign = torch.where(_uniform(count, g) < 0.5, -1.0, 1.0)
    along_rows = _uniform(count, g) < 0.5
    step = 2.0 * sign * distance / PIXEL_MM / SIZE  # normalised grid units
    offset = torch.stack([torch.where(along_rows, 0.0, step), torch.where(along_rows, step, 0.0)])
    identity = torch.eye(2, 3).expand(count, 2, 3).clone()
    identity[:, :, 2] = -offset.T  # sampling from -d displaces the content by +d
    grid = F.affine_grid(identity, [count, 2, SIZE, SIZE], align_corners=False)
    low, high = MARROW_FAT_FRACTION
    return grid, low + (high - low) * _uniform(count, g)


def _uniform(count: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(count, generator=generator)


def _intensity_table(count: int, generator: torch.Generator) -> torch.Tensor:
    """``[n, 2, rows]`` early and late echo intensity of every table row (label values, then
    cortex, fluid, gap tissue, air)."""
    g = generator
    kinds = torch.full((_ROWS,), _FAT)
    for label, kind in _KIND_OF_LABEL.items():
        kinds[int(label)] = kind
    kinds[_CORTEX_ROW], kinds[_FLUID_ROW], kinds[_GAP_ROW] = _CORTEX, _FLUID, _TENDON
    ranges = _RANGES[kinds]  # [rows, 4]
    u_pd, u_t2 = torch.rand(count, _ROWS, generator=g), torch.rand(count, _ROWS, generator=g)
    pd = ranges[:, 0] + (ranges[:, 1] - ranges[:, 0]) * u_pd
    t2 = torch.exp(
        torch.log(ranges[:, 2]) + (torch.log(ranges[:, 3]) - torch.log(ranges[:, 2])) * u_t2
    )
    (early_low, early_high), (gap_low, gap_high) = EARLY_MS_RANGE, LATE_GAP_MS_RANGE
    early_ms = early_low + (early_high - early_low) * torch.rand(count, 1, generator=g)
    late_ms = early_ms + gap_low + (gap_high - gap_low) * torch.rand(count, 1, generator=g)
    physical = torch.stack([pd * torch.exp(-early_ms / t2), pd * torch.exp(-late_ms / t2)], 1)
    first = torch.rand(count, _ROWS, generator=g)
    decay = 0.15 + 0.85 * torch.rand(count, _ROWS, generator=g)
    random = torch.stack([first, first * decay], 1)
    chosen = (torch.rand(count, 1, 1, generator=g) < RANDOM_CONTRAST_SHARE).float()
    table = chosen * random + (1 - chosen) * physical
    # One person's marrow looks alike in every bone (within 10 %), and fatty marrow often
    # matches the fat around the bone: then only the cortex tells them apart.
    marrow = table[:, :, KneeLabel.FEMUR : KneeLabel.FEMUR + 1]
    jitter = 0.9 + 0.2 * torch.rand(count, 2, len(_BONE_LABELS), generator=g)
    table[:, :, [int(v) for v in _BONE_LABELS]] = marrow * jitter
    like_marrow = torch.rand(count, 1, generator=g) < FAT_LIKE_MARROW_SHARE
    fat = table[:, :, KneeLabel.FAT]
    table[:, :, KneeLabel.FAT] = torch.where(
        like_marrow, marrow[..., 0] * (0.9 + 0.2 * torch.rand(count, 2, generator=g)), fat
    )
    suppressed = (torch.rand(count, 1, 1, generator=g) < FAT_SUPPRESSED_SHARE) & (chosen == 0)
    low, high = FAT_RESIDUAL
    residual = low + (high - low) * torch.rand(count, 1, 1, generator=g)
    fatty = (kinds == _MARROW) | (kinds == _FAT)
    table = torch.where(suppressed & fatty, table * residual, table)
    table[:, :, _AIR_ROW] = 0.0
    return table


def _rows(
    labels: torch.Tensor,
    distances: torch.Tensor,
    gaps: torch.Tensor,
    film_px: torch.Tensor,
    cortex_px: torch.Tensor,
    gap_fluid: torch.Tensor,
    air_px: torch.Tensor,
) -> torch.Tensor:
    """Intensity-table row of every pixel of ``[n, S, S]`` label slices: the label value,
    or cortex on a bone's rim, fluid in the film along cartilage and menisci, fluid or gap
    tissue in narrow gaps, air far from the knee, 0 (surroundings) elsewhere.
    ``distances`` and ``gaps`` are the bank's maps of those slices."""
    depth, from_joint, from_tissue = distances.unbind(1)
    tissue = labels > 0
    cortex_px, film_px, air_px = (v[:, None, None] for v in (cortex_px, film_px, air_px))
    gap_fluid = gap_fluid[:, None, None]
    rows = torch.where((depth > 0) & (depth <= cortex_px), _CORTEX_ROW, labels)
    rows = torch.where(gaps & gap_fluid, _FLUID_ROW, rows)
    rows = torch.where(gaps & ~gap_fluid, _GAP_ROW, rows)
    rows = torch.where(~tissue & (from_joint <= film_px), _FLUID_ROW, rows)
    return torch.where((rows == 0) & (from_tissue > air_px), _AIR_ROW, rows)


def _smooth_noise(n: int, cells: int, size: int, generator: torch.Generator) -> torch.Tensor:
    coarse = torch.randn(n, 1, cells, cells, generator=generator)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[:, 0]


def _texture(count: int, generator: torch.Generator) -> torch.Tensor:
    """``[n, S, S]`` multiplicative texture of tissue (trabecular marrow, cartilage grain)."""
    g = generator
    grain = _smooth_noise(count, 96, SIZE, g) + 0.5 * _smooth_noise(count, 160, SIZE, g)
    amount = 0.25 * torch.rand(count, 1, 1, generator=g)
    return (1 + amount * grain).clamp(min=0)


def _marrow(count: int, generator: torch.Generator) -> torch.Tensor:
    """``[n, S, S]`` multiplicative variation of marrow: slow (islands of red marrow,
    oedema-like patches, shading; up to about a factor two either way), thin dark lines
    (physeal scars, trabecular lines) and small bright or dark spots (cysts, vessels)."""
    g = generator
    amount = 0.7 * torch.rand(count, 1, 1, generator=g)
    field = _smooth_noise(count, 6, SIZE, g) + 0.5 * _smooth_noise(count, 14, SIZE, g)
    marrow = torch.exp(amount * field)
    lines = _smooth_noise(count, 5, SIZE, g).abs() < 0.04 * torch.rand(count, 1, 1, generator=g)
    darkness = 0.2 + 0.6 * torch.rand(count, 1, 1, generator=g)
    marrow = torch.where(lines, marrow * darkness, marrow)
    spots = _smooth_noise(count, 40, SIZE, g) > 2.2 + torch.rand(count, 1, 1, generator=g)
    level = 0.2 + 1.6 * torch.rand(count, 1, 1, generator=g)
    return torch.where(spots, level.expand_as(marrow), marrow)


def _is_bone(rows: torch.Tensor) -> torch.Tensor:
    bone = torch.zeros_like(rows, dtype=torch.bool)
    for value in _BONE_LABELS:
        bone |= rows == int(value)
    return bone


def _surroundings(count: int, table: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``[n, 2, S, S]``: what the label map leaves empty, as regions (a smooth random field
    cut at random levels) of the image's own fat, muscle, fluid or tendon intensities, each
    scaled by 0.8-1.2, crossed by thin dark bands."""
    g = generator
    shape = _smooth_noise(count, 5, SIZE, g) + 0.4 * _smooth_noise(count, 14, SIZE, g)
    cuts = torch.sort(torch.randn(count, _REGIONS - 1, generator=g), 1).values
    region = (shape[:, None] > cuts[:, :, None, None]).sum(1)  # [n, S, S] in 0.._REGIONS-1
    rows = _REGION_ROWS[torch.randint(len(_REGION_ROWS), (count, _REGIONS), generator=g)]
    values = table.gather(2, rows[:, None].expand(-1, 2, -1))  # [n, 2, regions]
    values = values * (0.8 + 0.4 * torch.rand(count, 1, _REGIONS, generator=g))
    image = values.gather(2, region.flatten(1)[:, None].expand(-1, 2, -1)).view(
        count, 2, SIZE, SIZE
    )
    curves = _smooth_noise(count, 12, SIZE, g).abs()
    band = (curves < 0.06 * torch.rand(count, 1, 1, generator=g))[:, None]
    dark = table[:, :, _GAP_ROW, None, None]
    return torch.where(band, dark.expand_as(image), image)


def _gaussian_kernels(sigmas: torch.Tensor, radius: int) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernels = torch.exp(-(x[None] ** 2) / (2 * sigmas.clamp(min=1e-3)[:, None] ** 2))
    return kernels / kernels.sum(1, keepdim=True)


def _blur(images: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur of ``[n, C, H, W]`` with a sigma (pixels) per image."""
    n, channels, height, width = images.shape
    radius = max(1, math.ceil(3 * float(sigmas.max())))
    kernels = _gaussian_kernels(sigmas.repeat_interleave(channels), radius)
    groups = n * channels
    flat = images.reshape(1, groups, height, width)
    flat = F.conv2d(
        F.pad(flat, (radius, radius, 0, 0), mode="replicate"), kernels[:, None, None], groups=groups
    )
    flat = F.conv2d(
        F.pad(flat, (0, 0, radius, radius), mode="replicate"),
        kernels[:, None, :, None],
        groups=groups,
    )
    return flat.view(n, channels, height, width)


def _sampling_grid(tissue: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``[n, OUT, OUT, 2]`` sampling grid into bank slices: pixels of 0.48-0.75 mm, +-20
    degrees of rotation, a crop centred near the slice's ``tissue``, elastic deformation."""
    g = generator
    count = tissue.shape[0]
    low, high = TRAINED_PIXEL_MM
    pixel_mm = low + (high - low) * torch.rand(count, generator=g)
    angle = torch.deg2rad(40 * torch.rand(count, generator=g) - 20)
    bank_half_mm = SIZE * PIXEL_MM / 2
    zoom = OUT_SIZE * pixel_mm / 2 / bank_half_mm  # output half-side in bank units
    stretch = 1 + 0.12 * (2 * torch.rand(count, generator=g) - 1)  # anisotropic size
    centre_xy = _tissue_centre(tissue)  # [n, 2] in bank normalised coordinates
    shift = centre_xy + 0.45 * (2 * torch.rand(count, 2, generator=g) - 1)
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos * stretch, -sin / stretch, shift[:, 0]
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin * stretch, cos / stretch, shift[:, 1]
    grid = F.affine_grid(theta, [count, 1, OUT_SIZE, OUT_SIZE], align_corners=False)
    amplitude_mm = 3.0 * torch.rand(count, 1, 1, 1, generator=g)
    field = torch.stack(
        [_smooth_noise(count, 5, OUT_SIZE, g), _smooth_noise(count, 5, OUT_SIZE, g)], -1
    )
    return grid + field * amplitude_mm / bank_half_mm


def _tissue_centre(tissue: torch.Tensor) -> torch.Tensor:
    """Centroid of each ``[n, S, S]`` mask in normalised (x, y) coordinates (0 if empty)."""
    size = tissue.shape[-1]
    axis = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    mass = tissue.float().sum((1, 2)).clamp(min=1)
    x = (tissue.float().sum(1) * axis).sum(1) / mass
    y = (tissue.float().sum(2) * axis).sum(1) / mass
    return torch.stack([x, y], 1)


def _degrade(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Bias field, Rician noise (independent per echo), the inference window (both echoes
    scaled by the early echo's percentiles) and a random gamma."""
    g = generator
    n, size = images.shape[0], images.shape[-1]
    bias = torch.exp(0.5 * torch.rand(n, 1, 1, generator=g) * _smooth_noise(n, 3, size, g))
    images = images * bias[:, None]
    level = torch.quantile(images[:, 0].flatten(1)[:, ::5], 0.99, dim=1).clamp(min=1e-3)
    sigma = (0.01 + 0.1 * torch.rand(n, generator=g)) * level
    real = images + sigma[:, None, None, None] * torch.randn(images.shape, generator=g)
    imaginary = sigma[:, None, None, None] * torch.randn(images.shape, generator=g)
    images = torch.sqrt(real**2 + imaginary**2)
    images = window(images)
    gamma = torch.exp(0.35 * (2 * torch.rand(n, 1, 1, 1, generator=g) - 1))
    return images**gamma


def window(images: torch.Tensor) -> torch.Tensor:
    """Scale ``[n, 2, H, W]`` echo pairs to [0, 1] by the early echo's 0.5-99.5th percentiles
    of non-zero pixels (the late echo keeps its decay relative to the early one)."""
    first = images[:, 0].flatten(1)
    sample = first[:, :: max(1, first.shape[1] // 8192)]
    sample = torch.where(sample > 0, sample, torch.nan)
    low, high = torch.nanquantile(
        sample, torch.tensor([0.005, 0.995], device=images.device), dim=1
    ).nan_to_num(0.0)
    scale = (high - low).clamp(min=1e-6)
    return ((images - low[:, None, None, None]) / scale[:, None, None, None]).clamp(0, 1)
