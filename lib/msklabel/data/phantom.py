"""A synthetic knee MR study (multi-echo spin echo, or a DESS-like gradient echo) with
analytic ground truth.

A right knee (medial = patient left) is built from signed-distance primitives
(:mod:`msklabel.data._sdf`) in a knee frame, posed in the scanner with a slight rotation
(:data:`POSE_DEG`), and sampled on an axial, sagittal or oblique grid. Voxels that a
surface may cross are supersampled, which gives every voxel its partial-volume fractions:
the label map takes the tissue with the largest fraction, and echo ``TE`` has the signal
``sum(fraction * PD * exp(-TE / T2))`` plus Rician noise drawn from ``seed``. The ``gre``
sequence weights each tissue's term by its water-excited steady-state gradient-echo signal
(:data:`SEQUENCES`): cartilage stays bright, fat and fatty marrow go dark, as in DESS.

Precedence (the first solid holding a point gives its tissue): outside the limb
(background), femur, tibia, patella, the four cartilage plates, the two menisci, the joint
space (background: no signal), muscle, and fat filling the rest of the limb. Plates and
menisci lie clear of every solid but their own bone, so no rule cuts them and their
thickness and volume are analytic; the joint space keeps a fluid-free gap between the
femoral and tibial cartilage.

The default 1.2 x 0.6 x 0.6 mm grid keeps every tissue's label-map volume within 1% of its
partial-volume integral in all three orientations; coarser slices make the thinnest
plates (2.4 mm) drift further, as thresholding a thin curved plate must.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydicom.uid import generate_uid

from msklabel import __version__
from msklabel.data import _sdf
from msklabel.data._sdf import DiscPlate, Field, SphericalPlate, WedgeRing, unit
from msklabel.data.threads import parallel_map
from msklabel.io.dicom_write import SeriesInfo, write_mr_series
from msklabel.io.nifti import write_nifti
from msklabel.labels import KneeLabel
from msklabel.volume import Volume

__all__ = [
    "CARTILAGE_THICKNESS_MM",
    "ORIENTATIONS",
    "POSE_DEG",
    "SEQUENCES",
    "THICKNESS_RANGE_MM",
    "TISSUES",
    "Phantom",
    "PhantomConfig",
    "PhantomFiles",
    "SequenceKind",
    "Tissue",
    "grid_geometry",
    "make_phantom",
    "min_fov_mm",
    "save_phantom",
    "write_phantom",
]

Orientation = Literal["axial", "sagittal", "oblique"]
ORIENTATIONS: tuple[Orientation, ...] = ("axial", "sagittal", "oblique")
#: The oblique grid is the sagittal one turned 15 degrees about z, then 25 degrees about y.
OBLIQUE_ANGLES_DEG = (15.0, 25.0)
_MAX_VOXELS = 64_000_000


@dataclass(frozen=True)
class Tissue:
    """MR properties of a tissue at 3 T: proton density (signal units at TE = 0), T2, T1
    and the share of its signal from water (what a water-excited sequence keeps)."""

    pd: float
    t2_ms: float
    t1_ms: float
    water: float


TISSUES: dict[KneeLabel, Tissue] = {  # bone: fatty marrow
    KneeLabel.FEMUR: Tissue(2700.0, 50.0, 370.0, 0.15),
    KneeLabel.TIBIA: Tissue(2700.0, 50.0, 370.0, 0.15),
    KneeLabel.PATELLA: Tissue(2700.0, 50.0, 370.0, 0.15),
    KneeLabel.FEMORAL_CARTILAGE: Tissue(2200.0, 40.0, 1240.0, 1.0),
    KneeLabel.MEDIAL_TIBIAL_CARTILAGE: Tissue(2200.0, 36.0, 1240.0, 1.0),
    KneeLabel.LATERAL_TIBIAL_CARTILAGE: Tissue(2200.0, 38.0, 1240.0, 1.0),
    KneeLabel.PATELLAR_CARTILAGE: Tissue(2300.0, 44.0, 1240.0, 1.0),
    KneeLabel.MEDIAL_MENISCUS: Tissue(1400.0, 13.0, 1000.0, 1.0),
    KneeLabel.LATERAL_MENISCUS: Tissue(1400.0, 14.0, 1000.0, 1.0),
    KneeLabel.MUSCLE: Tissue(1800.0, 32.0, 1420.0, 1.0),
    KneeLabel.FAT: Tissue(3000.0, 70.0, 380.0, 0.05),
}


@dataclass(frozen=True)
class SequenceKind:
    """A pulse sequence the phantom imitates: its DICOM header values (``acquisition_type``
    that of its echo volumes: None for the spin echo, whose ideal decay has no slice profile
    to declare) and, for a gradient
    echo (``flip_deg`` set), the steady state that weights each tissue by
    ``gain * water * sin(a) (1 - E1) / (1 - cos(a) E1)``, ``E1 = exp(-TR / T1)``."""

    scanning_sequence: str
    sequence_variant: str
    acquisition_type: str | None
    repetition_time_ms: float
    description: str
    flip_deg: float | None = None
    gain: float = 1.0

    def weight(self, tissue: Tissue) -> float:
        """The factor on the tissue's ``PD * exp(-TE / T2)`` (1 for a spin echo)."""
        if self.flip_deg is None:
            return 1.0
        flip, e1 = math.radians(self.flip_deg), math.exp(-self.repetition_time_ms / tissue.t1_ms)
        return self.gain * tissue.water * math.sin(flip) * (1 - e1) / (1 - math.cos(flip) * e1)


#: ``mese``: the 2D multi-echo spin echo of T2 mapping; ``gre``: a DESS-like water-excited
#: 3D gradient echo (TR 16 ms, 25 degrees; the gain keeps cartilage near its spin-echo level).
SEQUENCES: dict[str, SequenceKind] = {
    "mese": SequenceKind("SE", "NONE", None, 2000.0, "multi-echo"),
    "gre": SequenceKind("GR", "SS", "3D", 16.0, "DESS-like gradient echo", 25.0, 20.0),
}

#: Relative amplitude of the regional thickness profile (thicker centre, thinner rim).
REGIONAL_AMPLITUDE = 0.25
#: Nominal cartilage thickness (mm) along the bone-surface normal.
CARTILAGE_THICKNESS_MM = {
    KneeLabel.FEMORAL_CARTILAGE: 2.2,
    KneeLabel.MEDIAL_TIBIAL_CARTILAGE: 2.8,
    KneeLabel.LATERAL_TIBIAL_CARTILAGE: 2.4,
    KneeLabel.PATELLAR_CARTILAGE: 3.0,
}
#: Range of nominal thicknesses :class:`PhantomConfig` accepts (mm); up to the maximum the
#: plates stay clear of each other and of the menisci.
THICKNESS_RANGE_MM = (1.0, 3.5)

# The knee frame (mm): x medial (this is a right knee), y posterior, z superior.
_TIBIAL_POINT = (0.0, 2.0, -12.0)  # on the tibial plateau plane
_TIBIAL_NORMAL = unit((math.tan(math.radians(3.0)), math.tan(math.radians(7.0)), 1.0))
_PLATEAU_X = 22.0  # medial (+) and lateral (-) plateau centres, mm from the midline
_BONE_GAP = 8.0  # femoral condyle to tibial plateau along the plateau normal
_CONDYLE_RADIUS = {"medial": 21.0, "lateral": 20.0}
_SIDES = {"medial": 1.0, "lateral": -1.0}  # sign of x
_TIBIAL_PLATE_RADIUS = 13.5
_PATELLA_RADIUS = 21.0
_PATELLA_CUT = 6.0  # the patella is its sphere's cap behind a plane this far from the centre
_JOINT_RIM = 4.0  # joint space (background) kept around the articular cartilage, mm
_LIMB_CENTER = (0.0, 2.0, 0.0)  # the limb: a cylinder along z, cut flat at both ends
_LIMB_RADIUS = 52.0
_LIMB_HALF_HEIGHT = 50.0
_LIMB_REACH = math.hypot(_LIMB_RADIUS, _LIMB_HALF_HEIGHT) + math.hypot(*_LIMB_CENTER)
_MUSCLES = (  # capsules: start, end, radius
    ((15.0, 34.0, -24.0), (12.0, 30.0, -70.0), 10.0),  # gastrocnemius, medial head
    ((-15.0, 34.0, -24.0), (-12.0, 30.0, -70.0), 9.0),  # gastrocnemius, lateral head
    ((-16.0, -12.0, -32.0), (-14.0, -10.0, -70.0), 7.0),  # tibialis anterior
    ((28.0, -8.0, 38.0), (24.0, -4.0, 80.0), 12.0),  # vastus medialis
    ((-28.0, -8.0, 38.0), (-24.0, -4.0, 80.0), 12.0),  # vastus lateralis
    ((20.0, 30.0, 45.0), (18.0, 28.0, 80.0), 9.0),  # semimembranosus
    ((-20.0, 30.0, 45.0), (-18.0, 28.0, 80.0), 9.0),  # biceps femoris
)
#: The knee lies in the scanner turned -10, -6 and 8 degrees about x, y and z (in that
#: order), so that no flat face of it is parallel or nearly parallel to an image grid.
POSE_DEG = (-10.0, -6.0, 8.0)

_Vector = tuple[float, float, float]
_Part = SphericalPlate | DiscPlate | WedgeRing


def _rotation(axis: int, angle: float) -> np.ndarray:
    """Rotation by ``angle`` (rad) about coordinate ``axis`` (0: x, 1: y, 2: z)."""
    i, j = [k for k in range(3) if k != axis]
    matrix = np.eye(3)
    matrix[i, i] = matrix[j, j] = math.cos(angle)
    matrix[i, j], matrix[j, i] = -math.sin(angle), math.sin(angle)
    return matrix


def _pose() -> np.ndarray:
    """Rotation from the knee frame, where the solids are built, to patient coordinates."""
    about_x, about_y, about_z = (math.radians(a) for a in POSE_DEG)
    return _rotation(2, about_z) @ _rotation(1, about_y) @ _rotation(0, about_x)


@dataclass(frozen=True)
class _Region:
    """A solid of the phantom and the label it gives (0: background, e.g. the joint space)."""

    label: int
    field: Field | None  # None: everywhere (fat fills the rest of the limb)


@dataclass(frozen=True)
class Anatomy:
    """The solids of the phantom, in precedence order, and its analytic parts."""

    regions: tuple[_Region, ...]
    plates: dict[KneeLabel, tuple[SphericalPlate | DiscPlate, ...]]
    menisci: dict[KneeLabel, WedgeRing]


def _add(a: tuple[float, ...], b: tuple[float, ...], scale: float = 1.0) -> _Vector:
    x, y, z = (u + scale * v for u, v in zip(a, b, strict=True))
    return x, y, z


def _plateau_centre(side: str) -> _Vector:
    """Centre of the medial or lateral tibial plateau, on the plateau plane."""
    (nx, ny, nz), (px, py, pz) = _TIBIAL_NORMAL, _TIBIAL_POINT
    x, y = _SIDES[side] * _PLATEAU_X, 2.0
    return x, y, pz - (nx * (x - px) + ny * (y - py)) / nz


def _condyle_centre(side: str) -> _Vector:
    """Centre of the sphere of a femoral condyle, ``_BONE_GAP`` above its plateau."""
    return _add(_plateau_centre(side), _TIBIAL_NORMAL, _CONDYLE_RADIUS[side] + _BONE_GAP)


def _patella_centre() -> _Vector:
    """Centre of the patella's sphere: in front of and above the condyles."""
    _, y, z = _condyle_centre("medial")
    return 0.0, y - 42.5, z + 8.0


def _femoral_plates(amplitude: float, thickness: float) -> tuple[SphericalPlate, ...]:
    """Cartilage over the condyles: anterior (trochlear) to posterior, clear of the notch."""
    tilt = math.radians(20.0)  # the plates' centres lie 20 degrees behind the distal pole
    return tuple(
        SphericalPlate(
            center=_condyle_centre(side),
            radius=_CONDYLE_RADIUS[side],
            axis=(0.0, math.sin(tilt), -math.cos(tilt)),
            half_angle=math.radians(95.0),
            thickness=thickness,
            amplitude=amplitude,
            excluded=((1.0, 0.0, 0.0), (-1.0, 0.0, 0.0)),
            excluded_half_angle=math.radians(55.0),
        )
        for side in _SIDES
    )


def _tibial_plate(side: str, amplitude: float, thickness: float) -> DiscPlate:
    return DiscPlate(
        center=_plateau_centre(side),
        normal=_TIBIAL_NORMAL,
        radius=_TIBIAL_PLATE_RADIUS,
        thickness=thickness,
        amplitude=amplitude,
    )


def _patellar_plate(amplitude: float, thickness: float) -> SphericalPlate:
    return SphericalPlate(
        center=_patella_centre(),
        radius=_PATELLA_RADIUS,
        axis=(0.0, 1.0, 0.0),
        half_angle=math.radians(40.0),
        thickness=thickness,
        amplitude=amplitude,
    )


def _meniscus(side: str) -> WedgeRing:
    """A C-shaped wedge around the tibial plate, open towards the intercondylar notch."""
    return WedgeRing(
        center=_plateau_centre(side),
        normal=_TIBIAL_NORMAL,
        inner=_TIBIAL_PLATE_RADIUS + 2.0,
        outer=24.0,
        inner_height=2.0,
        outer_height=8.5,
        gap_direction=(-_SIDES[side], 0.0, 0.0),
        gap_half_angle=math.radians(50.0),
    )


def _femur() -> Field:
    """Condyle spheres joined by a metaphysis (capsule) to the shaft (cylinder)."""
    medial, lateral = _condyle_centre("medial"), _condyle_centre("lateral")
    above = (0.0, 0.0, 14.0)
    return _sdf.union(
        *(_sdf.sphere(_condyle_centre(side), _CONDYLE_RADIUS[side]) for side in _SIDES),
        _sdf.capsule(_add(medial, above), _add(lateral, above), 13.0),
        _sdf.capped_cylinder((0.0, 6.0, medial[2] + 40.0), (0.0, 0.0, 1.0), 14.0, 40.0),
    )


def _tibia() -> Field:
    """A head (slot-shaped prism under the plateau plane) on a shaft (cylinder)."""
    head = _sdf.intersection(
        _sdf.stadium_prism((-20.0, 4.0, 0.0), (20.0, 4.0, 0.0), 24.0, (0.0, 0.0, 1.0)),
        _sdf.halfspace(_TIBIAL_POINT, _TIBIAL_NORMAL),
        _sdf.halfspace((0.0, 0.0, -30.0), (0.0, 0.0, -1.0)),
    )
    return _sdf.union(head, _sdf.capped_cylinder((0.0, 6.0, -60.0), (0.0, 0.0, 1.0), 15.0, 32.0))


def _patella() -> Field:
    """The back of a sphere, cut by a frontal plane: its posterior face carries cartilage."""
    centre = _patella_centre()
    return _sdf.intersection(
        _sdf.sphere(centre, _PATELLA_RADIUS),
        _sdf.halfspace(_add(centre, (0.0, _PATELLA_CUT, 0.0)), (0.0, -1.0, 0.0)),
    )


def _joint_space(femoral: tuple[SphericalPlate, ...], patellar: SphericalPlate) -> Field:
    """Background around the femoral and patellar cartilage, filling the joint gap."""
    behind_patella = _sdf.halfspace(
        _add(_patella_centre(), (0.0, _PATELLA_CUT, 0.0)), (0.0, -1.0, 0.0)
    )
    return _sdf.union(*map(_around, femoral), _sdf.intersection(_around(patellar), behind_patella))


def _around(plate: SphericalPlate) -> Field:
    """The ball of the plate widened by ``_JOINT_RIM``, within 15 degrees more of its axis."""
    return _sdf.intersection(
        _sdf.sphere(plate.center, plate.bounding_radius + _JOINT_RIM),
        _sdf.cone(plate.center, plate.axis, plate.half_angle + math.radians(15.0)),
    )


def _bounded(part: _Part) -> Field:
    return _sdf.bounded(part.field, part.center, part.bounding_radius)


def build_anatomy(
    regional_thickness: bool, thickness_mm: Mapping[KneeLabel, float] | None = None
) -> Anatomy:
    """The knee's solids; cartilage thickness varies smoothly if ``regional_thickness``.

    ``thickness_mm`` sets the nominal thickness of some plates (default
    :data:`CARTILAGE_THICKNESS_MM`).
    """
    amplitude = REGIONAL_AMPLITUDE if regional_thickness else 0.0
    nominal = {**CARTILAGE_THICKNESS_MM, **(thickness_mm or {})}
    femoral = _femoral_plates(amplitude, nominal[KneeLabel.FEMORAL_CARTILAGE])
    patellar = _patellar_plate(amplitude, nominal[KneeLabel.PATELLAR_CARTILAGE])
    plates: dict[KneeLabel, tuple[SphericalPlate | DiscPlate, ...]] = {
        KneeLabel.FEMORAL_CARTILAGE: femoral,
        KneeLabel.MEDIAL_TIBIAL_CARTILAGE: (
            _tibial_plate("medial", amplitude, nominal[KneeLabel.MEDIAL_TIBIAL_CARTILAGE]),
        ),
        KneeLabel.LATERAL_TIBIAL_CARTILAGE: (
            _tibial_plate("lateral", amplitude, nominal[KneeLabel.LATERAL_TIBIAL_CARTILAGE]),
        ),
        KneeLabel.PATELLAR_CARTILAGE: (patellar,),
    }
    menisci = {
        KneeLabel.MEDIAL_MENISCUS: _meniscus("medial"),
        KneeLabel.LATERAL_MENISCUS: _meniscus("lateral"),
    }
    limb = _sdf.capped_cylinder(_LIMB_CENTER, (0.0, 0.0, 1.0), _LIMB_RADIUS, _LIMB_HALF_HEIGHT)
    regions = (
        _Region(0, _sdf.complement(limb)),
        _Region(KneeLabel.FEMUR, _femur()),
        _Region(KneeLabel.TIBIA, _tibia()),
        _Region(KneeLabel.PATELLA, _patella()),
        *(_Region(label, _sdf.union(*map(_bounded, parts))) for label, parts in plates.items()),
        *(_Region(label, _bounded(ring)) for label, ring in menisci.items()),
        _Region(0, _joint_space(femoral, patellar)),
        _Region(KneeLabel.MUSCLE, _sdf.union(*(_sdf.capsule(*m) for m in _MUSCLES))),
        _Region(KneeLabel.FAT, None),
    )
    return Anatomy(regions=regions, plates=plates, menisci=menisci)


@dataclass(frozen=True)
class PhantomConfig:
    """What to generate; checked at construction (``ValueError`` naming the bad field).

    ``spacing`` is the voxel size (slice, row, column) in mm and ``fov_mm`` the side of the
    square in-plane field of view centred on the knee (the slices always cover the whole
    limb). ``supersampling`` is the number of subsamples per voxel along its finest axis;
    coarser axes get proportionally more (always an odd number, so two tissues never tie).
    ``cartilage_thickness_mm`` sets the nominal thickness of plates by label key (e.g.
    ``{"femoral_cartilage": 1.5}``), within :data:`THICKNESS_RANGE_MM`; the others keep
    :data:`CARTILAGE_THICKNESS_MM`. The femoral and a tibial plate must stay clear of each
    other across the joint gap, regional variation included. ``sequence`` names the pulse
    sequence imitated (:data:`SEQUENCES`).
    """

    seed: int = 0
    orientation: Orientation = "sagittal"
    spacing: tuple[float, float, float] = (1.2, 0.6, 0.6)
    fov_mm: float = 150.0
    echo_times: tuple[float, ...] = tuple(6.5 * k for k in range(1, 9))  # 6.5 .. 52 ms
    noise_sigma: float = 15.0
    supersampling: int = 2
    regional_thickness: bool = False
    cartilage_thickness_mm: Mapping[str, float] | None = None
    sequence: str = "mese"

    def __post_init__(self) -> None:
        _require(
            self.sequence in SEQUENCES,
            f"sequence must be one of {tuple(SEQUENCES)}, got {self.sequence!r}",
        )
        _require(
            isinstance(self.seed, (int, np.integer)) and not isinstance(self.seed, bool),
            "seed must be an integer",
        )
        _require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        _require(
            self.orientation in ORIENTATIONS,
            f"orientation must be one of {ORIENTATIONS}, got {self.orientation!r}",
        )
        spacing = _floats("spacing", self.spacing)
        _require(len(spacing) == 3, f"spacing needs 3 values (slice, row, column), got {spacing}")
        _require(
            all(0.1 <= s <= 10.0 for s in spacing), f"spacing must be 0.1..10 mm, got {spacing}"
        )
        fov = _floats("fov_mm", (self.fov_mm,))[0]
        least = min_fov_mm(self.orientation)
        _require(
            fov >= least,
            f"fov_mm must be >= {least:.1f} to hold the limb in a {self.orientation} grid, "
            f"got {fov}",
        )
        voxels = math.ceil(2 * _LIMB_REACH / spacing[0] + 2) * math.prod(
            math.ceil(fov / s) for s in spacing[1:]
        )
        _require(
            voxels <= _MAX_VOXELS, f"fov_mm / spacing gives {voxels} voxels (max {_MAX_VOXELS})"
        )
        echo_times = _floats("echo_times", self.echo_times)
        _require(len(echo_times) > 0, "echo_times must hold at least one echo time")
        _require(echo_times[0] > 0, f"echo_times must be > 0 ms, got {echo_times}")
        _require(
            all(a < b for a, b in itertools.pairwise(echo_times)),
            f"echo_times must increase strictly, got {echo_times}",
        )
        sigma = _floats("noise_sigma", (self.noise_sigma,))[0]
        _require(sigma >= 0, f"noise_sigma must be >= 0, got {sigma}")
        _require(
            isinstance(self.supersampling, (int, np.integer))
            and not isinstance(self.supersampling, bool)
            and 1 <= self.supersampling <= 8,
            f"supersampling must be an integer 1..8, got {self.supersampling!r}",
        )
        _require(
            isinstance(self.regional_thickness, bool),
            f"regional_thickness must be a bool, got {self.regional_thickness!r}",
        )
        self._check_thickness()
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "fov_mm", fov)
        object.__setattr__(self, "echo_times", echo_times)
        object.__setattr__(self, "noise_sigma", sigma)
        object.__setattr__(self, "supersampling", int(self.supersampling))

    def _check_thickness(self) -> None:
        given = self.cartilage_thickness_mm or {}
        _require(
            isinstance(given, Mapping),
            f"cartilage_thickness_mm must map plate keys to mm, got {given!r}",
        )
        keys = [plate.key for plate in CARTILAGE_THICKNESS_MM]
        unknown = sorted(set(given) - set(keys))
        _require(not unknown, f"cartilage_thickness_mm: unknown plates {unknown} (known: {keys})")
        low, high = THICKNESS_RANGE_MM
        for key, value in given.items():
            (mm,) = _floats(f"cartilage_thickness_mm[{key!r}]", (value,))
            _require(
                low <= mm <= high,
                f"cartilage_thickness_mm[{key!r}] must be {low}..{high} mm, got {mm}",
            )
        thickest = 1.0 + (REGIONAL_AMPLITUDE if self.regional_thickness else 0.0)
        nominal = self.plate_thickness_mm
        femoral = nominal[KneeLabel.FEMORAL_CARTILAGE]
        for tibial in (KneeLabel.MEDIAL_TIBIAL_CARTILAGE, KneeLabel.LATERAL_TIBIAL_CARTILAGE):
            across = thickest * (femoral + nominal[tibial])
            _require(
                across < _BONE_GAP,
                f"cartilage_thickness_mm: femoral and {tibial.key} plates up to {across:.2f} mm "
                f"thick together overlap across the {_BONE_GAP} mm joint gap",
            )

    @property
    def plate_thickness_mm(self) -> dict[KneeLabel, float]:
        """Nominal thickness (mm) of every plate: the configured ones, else the defaults."""
        given = self.cartilage_thickness_mm or {}
        return {
            label: float(given.get(label.key, default))
            for label, default in CARTILAGE_THICKNESS_MM.items()
        }

    @staticmethod
    def evenly_spaced_echoes(
        count: int, first_ms: float = 6.5, last_ms: float = 52.0
    ) -> tuple[float, ...]:
        """``count`` echo times (ms) evenly spaced from ``first_ms`` to ``last_ms``."""
        if count < 1:
            raise ValueError(f"PhantomConfig: at least one echo is needed, got {count}")
        if count == 1:
            return (float(first_ms),)
        step = (last_ms - first_ms) / (count - 1)
        return tuple(float(first_ms + k * step) for k in range(count))

    @property
    def subsamples(self) -> tuple[int, int, int]:
        """Subsamples per voxel along (slice, row, column)."""
        finest = min(self.spacing)
        counts = (math.ceil(self.supersampling * s / finest - 1e-9) for s in self.spacing)
        return tuple(n if n % 2 else n + 1 for n in counts)  # type: ignore[return-value]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(f"PhantomConfig: {message}")


def _floats(name: str, values: Any) -> tuple[float, ...]:
    try:
        result = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"PhantomConfig: {name} must be numbers, got {values!r}") from None
    _require(all(math.isfinite(v) for v in result), f"{name} must be finite, got {result}")
    return result


@dataclass(frozen=True)
class Phantom:
    """A generated study: echo volumes (float32 holding integers 0..65535), labels, truth."""

    config: PhantomConfig
    echoes: tuple[Volume, ...]
    labels: Volume
    truth: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class PhantomFiles:
    """Where :func:`write_phantom` put the study."""

    dicom_dir: Path
    labels: Path
    truth: Path


def grid_geometry(config: PhantomConfig) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The grid's (slice, row, column, 1) -> LPS affine and its shape (slices, rows, columns).

    Rows and columns span (at least) ``fov_mm`` centred on the origin; the slices cover the
    limb along the slice normal, with one slice of air to spare at each end.
    """
    directions = _directions(config.orientation)
    spacing = np.array(config.spacing)
    low, high = _limb_span(directions[:, 0])
    rows, columns = (math.ceil(config.fov_mm / s - 1e-9) for s in config.spacing[1:])
    slices = math.ceil((high - low) / spacing[0]) + 2
    shape = (slices, rows, columns)
    affine = np.eye(4)
    affine[:3, :3] = directions * spacing
    centre = directions[:, 0] * (low + high) / 2.0
    affine[:3, 3] = centre - affine[:3, :3] @ ((np.array(shape) - 1) / 2.0)
    return affine, shape


def min_fov_mm(orientation: Orientation) -> float:
    """Smallest ``fov_mm`` whose rows and columns hold the whole limb in ``orientation``."""
    directions = _directions(orientation)
    return 2 * max(abs(v) for axis in (1, 2) for v in _limb_span(directions[:, axis]))


def _limb_span(direction: np.ndarray) -> tuple[float, float]:
    """Smallest and largest ``p . direction`` over the limb (patient coordinates, mm)."""
    u = _pose().T @ direction  # the direction in the knee frame, where the limb is upright
    along = abs(float(u[2]))
    reach = along * _LIMB_HALF_HEIGHT + _LIMB_RADIUS * math.sqrt(max(0.0, 1.0 - along**2))
    centre = float(np.dot(_LIMB_CENTER, u))
    return centre - reach, centre + reach


def _directions(orientation: Orientation) -> np.ndarray:
    """Unit vectors of increasing slice, row and column index, as columns."""
    if orientation == "axial":  # rows run left (+x), columns posterior (+y)
        column, row = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    else:  # sagittal: rows run posterior (+y), columns inferior (-z)
        column, row = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])
    if orientation == "oblique":
        about_z, about_y = (math.radians(a) for a in OBLIQUE_ANGLES_DEG)
        rotation = _rotation(1, about_y) @ _rotation(2, about_z)
        column, row = rotation @ column, rotation @ row
    return np.column_stack([np.cross(column, row), row, column])


@dataclass(frozen=True)
class _Sampled:
    """Tissue labels of the grid with the partial-volume fractions of its boundary voxels."""

    labels: np.ndarray  # uint8, shape of the grid: largest-fraction label
    band: np.ndarray  # flat indices of the supersampled voxels
    fractions: np.ndarray  # (len(band), n_labels) float32, rows sum to 1

    def volumes_mm3(self, voxel_volume: float) -> np.ndarray:
        """Integral of each label's fraction over the grid (mm^3), indexed by label value."""
        n_labels = self.fractions.shape[1]
        pure = np.bincount(self.labels.ravel(), minlength=n_labels).astype(np.float64)
        pure -= np.bincount(self.labels.ravel()[self.band], minlength=n_labels)
        return (pure + self.fractions.sum(axis=0, dtype=np.float64)) * voxel_volume


_N_LABELS = max(KneeLabel) + 1
_SLAB_VOXELS = 1 << 19
_CHUNK_POINTS = 1 << 21


def _sample(
    regions: tuple[_Region, ...], config: PhantomConfig, affine: np.ndarray, shape: tuple[int, ...]
) -> _Sampled:
    """Label every voxel of the grid; supersample those that a surface may cross."""
    per_slice = shape[1] * shape[2]
    slab = max(1, _SLAB_VOXELS // per_slice)
    starts = range(0, shape[0], slab)

    def sample_slab(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        centres = _voxel_centres(affine, (start, min(start + slab, shape[0])), shape)
        labels, band, fractions = _sample_points(regions, centres, config, affine)
        return labels, band + start * per_slice, fractions

    slabs = parallel_map(sample_slab, starts)
    labels = np.concatenate([labels for labels, _, _ in slabs]).reshape(shape)
    band = np.concatenate([band for _, band, _ in slabs])
    return _Sampled(labels, band, np.concatenate([fractions for _, _, fractions in slabs]))


def _voxel_centres(
    affine: np.ndarray, slices: tuple[int, int], shape: tuple[int, int, int]
) -> np.ndarray:
    """Patient coordinates (3, N) of the voxel centres of slices ``slices[0]:slices[1]``."""
    axes = (np.arange(*slices), np.arange(shape[1]), np.arange(shape[2]))
    index = np.stack(np.meshgrid(*axes, indexing="ij")).reshape(3, -1).astype(np.float32)
    m = affine.astype(np.float32)
    return m[:3, :3] @ index + m[:3, 3:]


def _sample_points(
    regions: tuple[_Region, ...], centres: np.ndarray, config: PhantomConfig, affine: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels of voxels centred at ``centres``, the band among them and its fractions.

    A voxel lies in one region for sure once the first region holding its whole bounding
    ball (radius: half the voxel diagonal) is reached with no earlier surface within that
    ball; otherwise it is in the band, and the regions whose surfaces are near are
    evaluated at its subsamples.
    """
    reach = 0.5 * float(np.linalg.norm(config.spacing))
    n = centres.shape[1]
    closing = np.full(n, len(regions), dtype=np.int8)  # first region surely holding the voxel
    near = np.zeros((len(regions), n), dtype=bool)  # surfaces to resolve by supersampling
    still_open = np.arange(n)  # voxels no region surely holds yet
    for index, region in enumerate(regions):
        if region.field is None:
            closing[still_open] = index
            break
        distance = region.field(centres[:, still_open])
        near[index, still_open[np.abs(distance) <= reach]] = True
        surely_in = distance < -reach
        closing[still_open[surely_in]] = index
        still_open = still_open[~surely_in]
    labels = np.array([r.label for r in regions] + [0], dtype=np.uint8)[closing]
    band = np.flatnonzero(near.any(axis=0))
    offsets = _subsample_offsets(config, affine)
    chunk = max(1, _CHUNK_POINTS // len(offsets))
    fractions = [
        _band_fractions(regions, centres[:, part], near[:, part], labels[part], offsets)
        for part in np.array_split(band, max(1, math.ceil(len(band) / chunk)))
    ]
    fractions_array = np.concatenate(fractions) if band.size else np.zeros((0, _N_LABELS))
    labels[band] = np.argmax(fractions_array, axis=1)
    return labels, band, fractions_array.astype(np.float32)


def _subsample_offsets(config: PhantomConfig, affine: np.ndarray) -> np.ndarray:
    """Offsets (S, 3) in mm from a voxel's centre to its subsamples (a regular grid)."""
    axes = [(np.arange(n) + 0.5) / n - 0.5 for n in config.subsamples]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return (grid @ affine[:3, :3].T).astype(np.float32)


def _band_fractions(
    regions: tuple[_Region, ...],
    centres: np.ndarray,
    near: np.ndarray,
    closing_labels: np.ndarray,
    offsets: np.ndarray,
) -> np.ndarray:
    """Label fractions (n, n_labels) of voxels, by first-region-wins at each subsample.

    ``closing_labels`` is, per voxel, the label of the first region surely holding it:
    every subsample that no earlier (``near``) region holds gets it.
    """
    n, s = centres.shape[1], len(offsets)
    sub_labels = np.repeat(closing_labels[:, None], s, axis=1)
    for index in reversed(range(len(regions))):  # earlier regions overwrite later ones
        rows = np.flatnonzero(near[index])
        if rows.size:
            points = (centres[:, rows, None] + offsets.T[:, None, :]).reshape(3, -1)
            block = sub_labels[rows]
            block[regions[index].field(points).reshape(-1, s) < 0] = regions[index].label
            sub_labels[rows] = block
    counts = np.bincount(
        (np.arange(n)[:, None] * _N_LABELS + sub_labels).ravel(), minlength=n * _N_LABELS
    )
    return counts.reshape(n, _N_LABELS) / np.float32(s)


def _signal_table(config: PhantomConfig) -> np.ndarray:
    """Noise-free signal (n_labels, n_echoes) of a voxel filled by each label (0: none)."""
    sequence = SEQUENCES[config.sequence]
    table = np.zeros((_N_LABELS, len(config.echo_times)))
    for label, tissue in TISSUES.items():
        decay = np.exp(-np.array(config.echo_times) / tissue.t2_ms)
        table[label] = sequence.weight(tissue) * tissue.pd * decay
    return table


def _echo_arrays(sampled: _Sampled, config: PhantomConfig) -> list[np.ndarray]:
    """Noisy magnitude images, rounded and clipped to 0..65535 (float32).

    Voxels with signal get Rician noise; signal-free ones (air, joint space) get its
    special case, Rayleigh noise, drawn directly (it is cheaper). Each echo draws from
    its own stream spawned from ``config.seed``.
    """
    table = _signal_table(config).astype(np.float32)
    band_signal = sampled.fractions @ table
    labels = sampled.labels.reshape(-1)
    silent = labels == 0
    silent[sampled.band] = False
    silent_at, lit_at = np.flatnonzero(silent), np.flatnonzero(~silent)
    band_in_lit = np.searchsorted(lit_at, sampled.band)
    lit_labels = labels[lit_at]
    streams = np.random.SeedSequence(config.seed).spawn(len(config.echo_times))
    sigma = np.float32(config.noise_sigma)

    def echo_array(echo: int) -> np.ndarray:
        rng = np.random.default_rng(streams[echo])
        clean = table[:, echo][lit_labels]
        clean[band_in_lit] = band_signal[:, echo]
        magnitude = np.empty(labels.size, dtype=np.float32)
        magnitude[lit_at] = _rician(clean, rng, sigma)
        magnitude[silent_at] = _rayleigh(silent_at.size, rng, sigma)
        np.minimum(np.rint(magnitude, out=magnitude), 65535, out=magnitude)
        return magnitude.reshape(sampled.labels.shape)

    return parallel_map(echo_array, range(len(config.echo_times)))


def _rician(signal: np.ndarray, rng: np.random.Generator, sigma: np.float32) -> np.ndarray:
    """``|signal + n1 + i n2|`` with n1, n2 normal of deviation ``sigma`` (in place)."""
    noise = rng.standard_normal((2, signal.size), dtype=np.float32)
    noise *= sigma
    signal += noise[0]
    return np.hypot(signal, noise[1], out=signal)


def _rayleigh(count: int, rng: np.random.Generator, sigma: np.float32) -> np.ndarray:
    """``|n1 + i n2|`` with n1, n2 normal of deviation ``sigma``: ``sigma * sqrt(2 E)``."""
    magnitude = rng.standard_exponential(count, dtype=np.float32)
    magnitude *= 2
    np.sqrt(magnitude, out=magnitude)
    magnitude *= sigma
    return magnitude


def make_phantom(config: PhantomConfig | None = None) -> Phantom:
    """Generate the phantom study described by ``config`` (defaults: ``PhantomConfig()``)."""
    config = config or PhantomConfig()
    anatomy = build_anatomy(config.regional_thickness, config.plate_thickness_mm)
    affine, shape = grid_geometry(config)
    to_knee = np.eye(4)
    to_knee[:3, :3] = _pose().T
    sampled = _sample(anatomy.regions, config, to_knee @ affine, shape)
    sequence = SEQUENCES[config.sequence]
    description = f"phantom {config.orientation} {sequence.description}"
    echoes = tuple(
        Volume(
            array,
            affine,
            echo_time=te,
            modality="MR",
            series_description=description,
            acquisition_type=sequence.acquisition_type,
        )
        for array, te in zip(_echo_arrays(sampled, config), config.echo_times, strict=True)
    )
    labels = Volume(sampled.labels, affine, series_description="phantom labels")
    voxel_volume = float(abs(np.linalg.det(affine[:3, :3])))
    truth = _truth(config, affine, shape, anatomy, sampled.volumes_mm3(voxel_volume))
    return Phantom(config=config, echoes=echoes, labels=labels, truth=truth)


_THICKNESS_DEFINITION = (
    "area-weighted mean over the covered bone surface of the cartilage thickness along the "
    "bone-surface normal; the thickness is analytic (nominal, or if regional_thickness "
    f"nominal * (1 + {REGIONAL_AMPLITUDE} cos(pi u)), u = 0 at the plate centre, 1 at its rim) "
    "and integrated by midpoint quadrature over the bone surface"
)
_VOLUME_DEFINITION = (
    "integral over the image grid of the tissue's partial-volume fraction (supersampled "
    "voxels near surfaces, exact 0/1 elsewhere), in mm^3"
)
_ANALYTIC_VOLUME_DEFINITION = (
    "continuous volume of the solid, independent of the grid: quadrature of the shell over "
    "the covered bone surface (cartilage), Pappus' theorem (menisci)"
)


def _truth(
    config: PhantomConfig,
    affine: np.ndarray,
    shape: tuple[int, int, int],
    anatomy: Anatomy,
    volumes: np.ndarray,
) -> dict[str, Any]:
    """The JSON-ready ground truth of a generated phantom."""
    cartilage = {}
    for label, parts in anatomy.plates.items():
        samples = [part.samples() for part in parts]
        area = sum(s.area for s in samples)
        cartilage[label.key] = {
            "label": int(label),
            "mean_thickness_mm": sum(s.area * s.mean_thickness for s in samples) / area,
            "nominal_thickness_mm": parts[0].thickness,
            "thickness_range_mm": [
                min(p.thickness * (1 - p.amplitude) for p in parts),
                max(p.max_thickness for p in parts),
            ],
            "bone_area_mm2": area,
            "analytic_volume_mm3": sum(s.volume for s in samples),
            "definition": _THICKNESS_DEFINITION,
        }
    return {
        "generator": f"msklabel {__version__} msklabel.data.phantom",
        "seed": config.seed,
        "orientation": config.orientation,
        "laterality": "right knee: medial is patient left (+x)",
        "pose_deg": list(POSE_DEG),
        "shape": list(shape),
        "spacing_mm": list(config.spacing),
        "fov_mm": config.fov_mm,
        "affine": affine.tolist(),
        "affine_note": (
            "maps (slice, row, column, 1), voxel centres at integer indices, to DICOM patient "
            "coordinates LPS in mm (+x patient left, +y posterior, +z superior), as "
            "msklabel.volume.Volume; NIfTI stores the RAS equivalent"
        ),
        "echo_times_ms": list(config.echo_times),
        "noise_sigma": config.noise_sigma,
        "sequence": config.sequence,
        "signal_model": (
            "S(TE) = sum over tissues of fraction * w * pd * exp(-TE / t2_ms), w = 1 for a spin "
            "echo, w = gain * water * sin(flip) (1 - E1) / (1 - cos(flip) E1), E1 = "
            "exp(-TR / t1_ms) for a gradient echo; then Rician noise "
            "(magnitude of S plus complex Gaussian noise of noise_sigma per channel; where S is "
            "0 its Rayleigh case), rounded and clipped to 0..65535; pd is the signal at TE = 0"
        ),
        "subsamples_per_voxel": list(config.subsamples),
        "label_rule": "largest partial-volume fraction; ties go to the lower label value",
        "regional_thickness": config.regional_thickness,
        "labels": {"background": 0, **{label.key: int(label) for label in KneeLabel}},
        "volume_definition": _VOLUME_DEFINITION,
        "analytic_volume_definition": _ANALYTIC_VOLUME_DEFINITION,
        "tissues": {
            label.key: {
                "label": int(label),
                "volume_mm3": float(volumes[label]),
                "t2_ms": tissue.t2_ms,
                "t1_ms": tissue.t1_ms,
                "water": tissue.water,
                "pd": tissue.pd,
            }
            for label, tissue in TISSUES.items()
        },
        "cartilage": cartilage,
        "menisci": {
            label.key: {"label": int(label), "analytic_volume_mm3": ring.volume}
            for label, ring in anatomy.menisci.items()
        },
    }


def write_phantom(
    config: PhantomConfig | None, out_dir: str | os.PathLike[str], *, series_per_echo: bool = False
) -> PhantomFiles:
    """Generate the phantom of ``config`` and :func:`save_phantom` it to ``out_dir``."""
    return save_phantom(make_phantom(config), out_dir, series_per_echo=series_per_echo)


def save_phantom(
    phantom: Phantom, out_dir: str | os.PathLike[str], *, series_per_echo: bool = False
) -> PhantomFiles:
    """Write ``dicom/``, ``labels.nii.gz`` and ``truth.json`` into ``out_dir``.

    ``dicom/`` holds one multi-echo MR series, or with ``series_per_echo`` one series per
    echo in ``dicom/echo01``, ``dicom/echo02``, ... (same study and frame of reference).
    """
    out = Path(out_dir)
    dicom_dir = out / "dicom"
    study, frame = generate_uid(), generate_uid()
    description = phantom.echoes[0].series_description or "phantom"
    sequence = SEQUENCES[phantom.config.sequence]
    common = {
        "study_instance_uid": study,
        "frame_of_reference_uid": frame,
        "repetition_time": sequence.repetition_time_ms,
        "scanning_sequence": sequence.scanning_sequence,
        "sequence_variant": sequence.sequence_variant,
    }
    if series_per_echo:
        for number, echo in enumerate(phantom.echoes, start=1):
            info = SeriesInfo(
                **common, series_number=number, series_description=f"{description} echo {number}"
            )
            write_mr_series([echo], dicom_dir / f"echo{number:02d}", info=info)
    else:
        write_mr_series(
            phantom.echoes, dicom_dir, info=SeriesInfo(**common, series_description=description)
        )
    labels_path, truth_path = out / "labels.nii.gz", out / "truth.json"
    write_nifti(phantom.labels, labels_path)
    truth_path.write_text(json.dumps(phantom.truth, indent=2) + "\n")
    return PhantomFiles(dicom_dir=dicom_dir, labels=labels_path, truth=truth_path)
