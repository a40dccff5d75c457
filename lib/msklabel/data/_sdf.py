"""Signed-distance primitives for the synthetic knee phantom.

A *field* maps points, an array of shape ``(3, N)`` in mm, to an array of shape ``(N,)``
that is negative inside a solid and positive outside it, and whose magnitude never exceeds
the distance to the solid's surface (exact signed distances qualify, and so do their
``min``/``max`` combinations). Hence if ``|f(c)| > h`` the whole ball of radius ``h``
around ``c`` lies on one side of the surface, which is what the phantom uses to decide
which voxels need supersampling.

Vectors given to the constructors are plain sequences of three floats; arrays of points
should be float32 (the arithmetic then stays float32).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Field = Callable[[np.ndarray], np.ndarray]
Vector = Sequence[float]


def unit(vector: Vector) -> tuple[float, float, float]:
    """``vector`` scaled to length 1."""
    length = math.sqrt(sum(v * v for v in vector))
    if length == 0:
        raise ValueError("a direction must not be the zero vector")
    x, y, z = (v / length for v in vector)
    return x, y, z


Components = tuple[np.ndarray, np.ndarray, np.ndarray]


def _dot(p: Any, v: Vector) -> Any:
    """Dot product of points (array or components) or of two plain vectors."""
    return p[0] * v[0] + p[1] * v[1] + p[2] * v[2]


def _relative(p: np.ndarray, origin: Vector) -> Components:
    return p[0] - origin[0], p[1] - origin[1], p[2] - origin[2]


def _norm(q: np.ndarray | Components) -> np.ndarray:
    return np.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2])


def _minus(q: Components, scale: np.ndarray, v: Vector) -> Components:
    """``q - scale * v`` componentwise."""
    return q[0] - scale * v[0], q[1] - scale * v[1], q[2] - scale * v[2]


def _angular(along: np.ndarray, across: np.ndarray, half_angle: float) -> np.ndarray:
    """Signed distance to a cone about an axis, from the axial and radial components.

    The cone holds the directions within ``half_angle`` (radians, 0..pi) of the axis. In
    2D (``across`` being an in-plane distance) the same formula gives the distance to a
    wedge, which is how dihedral sectors are computed.
    """
    cos_a, sin_a = math.cos(half_angle), math.sin(half_angle)
    sine = across * cos_a - along * sin_a  # r * sin(theta - half_angle)
    cosine = along * cos_a + across * sin_a  # r * cos(theta - half_angle)
    radius = np.sqrt(along * along + across * across)
    return np.where(cosine >= 0, sine, np.copysign(radius, sine))


def sphere(center: Vector, radius: float) -> Field:
    """Solid ball."""
    return lambda p: _norm(_relative(p, center)) - radius


def halfspace(point: Vector, normal: Vector) -> Field:
    """Points on the side of the plane through ``point`` opposite to ``normal``."""
    n = unit(normal)
    offset = sum(a * b for a, b in zip(point, n, strict=True))
    return lambda p: _dot(p, n) - offset


def capsule(start: Vector, end: Vector, radius: float) -> Field:
    """Points within ``radius`` of the segment from ``start`` to ``end``."""
    axis = tuple(float(b - a) for a, b in zip(start, end, strict=True))
    length_sq = _dot(axis, axis)

    def field(p: np.ndarray) -> np.ndarray:
        q = _relative(p, start)
        s = np.clip(_dot(q, axis) / length_sq, 0.0, 1.0)
        return _norm(_minus(q, s, axis)) - radius

    return field


def capped_cylinder(center: Vector, axis: Vector, radius: float, half_height: float) -> Field:
    """Solid cylinder of the given radius extending ``half_height`` along ±``axis``."""
    a = unit(axis)

    def field(p: np.ndarray) -> np.ndarray:
        q = _relative(p, center)
        along = _dot(q, a)
        across = np.sqrt(np.maximum(_dot(q, q) - along * along, 0.0))
        dr, dh = across - radius, np.abs(along) - half_height
        outside = np.sqrt(np.maximum(dr, 0.0) ** 2 + np.maximum(dh, 0.0) ** 2)
        return outside + np.minimum(np.maximum(dr, dh), 0.0)

    return field


def stadium_prism(start: Vector, end: Vector, radius: float, axis: Vector) -> Field:
    """Infinite prism along ``axis`` whose section is a 2D capsule (a rounded slot).

    The segment ``start``-``end`` must be perpendicular to ``axis``.
    """
    a = unit(axis)
    segment = tuple(float(b - x) for x, b in zip(start, end, strict=True))
    length_sq = _dot(segment, segment)
    if abs(_dot(segment, a)) > 1e-9 * math.sqrt(length_sq):
        raise ValueError("the stadium's segment must be perpendicular to its axis")

    def field(p: np.ndarray) -> np.ndarray:
        q = _relative(p, start)
        q = _minus(q, _dot(q, a), a)
        s = np.clip(_dot(q, segment) / length_sq, 0.0, 1.0)
        return _norm(_minus(q, s, segment)) - radius

    return field


def cone(apex: Vector, axis: Vector, half_angle: float) -> Field:
    """Infinite solid cone: directions from ``apex`` within ``half_angle`` (rad) of ``axis``."""
    a = unit(axis)

    def field(p: np.ndarray) -> np.ndarray:
        q = _relative(p, apex)
        along = _dot(q, a)
        across = np.sqrt(np.maximum(_dot(q, q) - along * along, 0.0))
        return _angular(along, across, half_angle)

    return field


def union(*fields: Field) -> Field:
    """Points inside any of ``fields``."""
    return lambda p: np.minimum.reduce([f(p) for f in fields])


def intersection(*fields: Field) -> Field:
    """Points inside all of ``fields``."""
    return lambda p: np.maximum.reduce([f(p) for f in fields])


def complement(field: Field) -> Field:
    """Points outside ``field``."""
    return lambda p: -field(p)


def bounded(field: Field, center: Vector, radius: float, margin: float = 10.0) -> Field:
    """``field`` evaluated only near a ball that contains its solid (a speed-up).

    Farther than ``margin`` from the ball, the distance to the ball stands in: it is
    positive and no larger than the distance to the solid, so the contract holds, and it
    exceeds ``margin`` so that no voxel smaller than that is taken to be near the solid.
    """
    ball = sphere(center, radius)

    def bounded_field(p: np.ndarray) -> np.ndarray:
        out = ball(p)
        near = out <= margin
        if near.any():
            out[near] = field(p[:, near])
        return out

    return bounded_field


def _profile(u: np.ndarray | float, thickness: float, amplitude: float) -> np.ndarray | float:
    """Plate thickness at normalised distance ``u`` (0 centre, 1 rim) from the plate centre."""
    return thickness * (1.0 + amplitude * np.cos(np.pi * u))


@dataclass(frozen=True)
class SurfaceSamples:
    """Quadrature of a plate over the bone surface it covers."""

    area: float  #: covered bone surface, mm^2
    mean_thickness: float  #: area-weighted mean of the normal thickness, mm
    volume: float  #: plate volume, mm^3


@dataclass(frozen=True)
class SphericalPlate:
    """A shell over a spherical bone surface, thickness measured along the sphere's normal.

    The covered surface is the cap within ``half_angle`` (rad) of ``axis`` minus the caps
    within ``excluded_half_angle`` of each direction in ``excluded``. Every boundary of
    the plate is thus a cone through the sphere's centre, so each covered surface point
    carries exactly its thickness ``thickness * (1 + amplitude * cos(pi * theta /
    half_angle))`` along its normal (``theta`` being its angle from ``axis``).
    """

    center: tuple[float, float, float]
    radius: float
    axis: tuple[float, float, float]
    half_angle: float
    thickness: float
    amplitude: float = 0.0
    excluded: tuple[tuple[float, float, float], ...] = ()
    excluded_half_angle: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", unit(self.axis))
        object.__setattr__(self, "excluded", tuple(unit(d) for d in self.excluded))

    @property
    def max_thickness(self) -> float:
        return self.thickness * (1.0 + abs(self.amplitude))

    @property
    def bounding_radius(self) -> float:
        """Radius of a ball about ``center`` holding the plate."""
        return self.radius + self.max_thickness

    def field(self, p: np.ndarray) -> np.ndarray:
        q = _relative(p, self.center)
        r = _norm(q)
        along = _dot(q, self.axis)
        across = np.sqrt(np.maximum(r * r - along * along, 0.0))
        theta = np.arctan2(across, along)
        thickness = _profile(theta / self.half_angle, self.thickness, self.amplitude)
        slope = self.thickness * abs(self.amplitude) * math.pi / (self.half_angle * self.radius)
        parts = [
            self.radius - r,
            (r - self.radius - thickness) / math.hypot(1.0, slope),
            _angular(along, across, self.half_angle),
        ]
        for direction in self.excluded:
            along_e = _dot(q, direction)
            across_e = np.sqrt(np.maximum(r * r - along_e * along_e, 0.0))
            parts.append(-_angular(along_e, across_e, self.excluded_half_angle))
        return np.maximum.reduce(parts)

    def samples(self, n_theta: int = 720, n_phi: int = 1440) -> SurfaceSamples:
        """Midpoint quadrature in (theta, phi) about ``axis``."""
        d_theta, d_phi = self.half_angle / n_theta, 2 * math.pi / n_phi
        theta = (np.arange(n_theta) + 0.5) * d_theta
        phi = (np.arange(n_phi) + 0.5) * d_phi
        e1, e2 = _perpendicular_pair(self.axis)
        st, ct = np.sin(theta)[:, None, None], np.cos(theta)[:, None, None]
        directions = ct * np.array(self.axis) + st * (
            np.cos(phi)[None, :, None] * e1 + np.sin(phi)[None, :, None] * e2
        )
        covered = np.ones(directions.shape[:2], dtype=bool)
        for direction in self.excluded:
            covered &= directions @ np.array(direction) < math.cos(self.excluded_half_angle)
        solid_angle = (np.sin(theta) * d_theta)[:, None] * d_phi * covered
        t = _profile(theta / self.half_angle, self.thickness, self.amplitude)[:, None]
        area = self.radius**2 * solid_angle.sum()
        shell = ((self.radius + t) ** 3 - self.radius**3) / 3.0
        return SurfaceSamples(
            area=float(area),
            mean_thickness=float((self.radius**2 * solid_angle * t).sum() / area),
            volume=float((solid_angle * shell).sum()),
        )


@dataclass(frozen=True)
class DiscPlate:
    """A plate over a flat bone surface: a disc of ``radius`` on the plane through ``center``.

    The plate lies on the ``normal`` side of the plane; its rim is a cylinder along the
    normal, so every covered point carries its thickness ``thickness * (1 + amplitude *
    cos(pi * rho / radius))`` along the normal (``rho``: distance from ``center``).
    """

    center: tuple[float, float, float]
    normal: tuple[float, float, float]
    radius: float
    thickness: float
    amplitude: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "normal", unit(self.normal))

    @property
    def max_thickness(self) -> float:
        return self.thickness * (1.0 + abs(self.amplitude))

    @property
    def bounding_radius(self) -> float:
        """Radius of a ball about ``center`` holding the plate."""
        return math.hypot(self.radius, self.max_thickness)

    def field(self, p: np.ndarray) -> np.ndarray:
        q = _relative(p, self.center)
        height = _dot(q, self.normal)
        rho = np.sqrt(np.maximum(_dot(q, q) - height * height, 0.0))
        thickness = _profile(rho / self.radius, self.thickness, self.amplitude)
        slope = self.thickness * abs(self.amplitude) * math.pi / self.radius
        top = (height - thickness) / math.hypot(1.0, slope)
        return np.maximum.reduce([-height, top, rho - self.radius])

    def samples(self, n_rho: int = 4000) -> SurfaceSamples:
        """Midpoint quadrature over rings of the disc."""
        d_rho = self.radius / n_rho
        rho = (np.arange(n_rho) + 0.5) * d_rho
        ring = 2 * math.pi * rho * d_rho
        t = _profile(rho / self.radius, self.thickness, self.amplitude)
        area = math.pi * self.radius**2
        return SurfaceSamples(
            area=area,
            mean_thickness=float((ring * t).sum() / ring.sum()),
            volume=float((ring * t).sum() * area / ring.sum()),
        )


@dataclass(frozen=True)
class WedgeRing:
    """A C-shaped ring of trapezoidal section resting on a plane (a meniscus).

    In each meridian half-plane about ``normal`` through ``center`` the section is the
    trapezoid from radius ``inner`` (height ``inner_height``) to ``outer`` (height
    ``outer_height``) above the plane. The sector within ``gap_half_angle`` (rad) of
    ``gap_direction`` (projected onto the plane) is left open.
    """

    center: tuple[float, float, float]
    normal: tuple[float, float, float]
    inner: float
    outer: float
    inner_height: float
    outer_height: float
    gap_direction: tuple[float, float, float]
    gap_half_angle: float

    def __post_init__(self) -> None:
        normal = unit(self.normal)
        along = _dot(self.gap_direction, normal)
        in_plane = (g - along * n for g, n in zip(self.gap_direction, normal, strict=True))
        object.__setattr__(self, "normal", normal)
        object.__setattr__(self, "gap_direction", unit(tuple(in_plane)))

    @property
    def bounding_radius(self) -> float:
        """Radius of a ball about ``center`` holding the ring."""
        return math.hypot(self.outer, max(self.inner_height, self.outer_height))

    def field(self, p: np.ndarray) -> np.ndarray:
        q = _relative(p, self.center)
        height = _dot(q, self.normal)
        q = _minus(q, height, self.normal)
        rho = _norm(q)
        slope = (self.outer_height - self.inner_height) / (self.outer - self.inner)
        top = (height - self.inner_height - slope * (rho - self.inner)) / math.hypot(1.0, slope)
        along = _dot(q, self.gap_direction)
        across = np.sqrt(np.maximum(rho * rho - along * along, 0.0))
        gap = _angular(along, across, self.gap_half_angle)
        return np.maximum.reduce([-height, top, self.inner - rho, rho - self.outer, -gap])

    @property
    def volume(self) -> float:
        """Exact volume (Pappus: section area x path of its centroid)."""
        width, h0, h1 = self.outer - self.inner, self.inner_height, self.outer_height
        area = width * (h0 + h1) / 2.0
        centroid = self.inner + width * (h0 + 2.0 * h1) / (3.0 * (h0 + h1))
        return area * centroid * (2.0 * math.pi - 2.0 * self.gap_half_angle)


def _perpendicular_pair(axis: Vector) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors completing ``axis`` to a right-handed orthonormal frame."""
    a = np.array(unit(axis))
    helper = np.eye(3)[int(np.argmin(np.abs(a)))]
    e1 = np.cross(a, helper)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(a, e1)
