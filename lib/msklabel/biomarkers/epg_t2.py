"""T2 maps from a multi-echo spin-echo (CPMG) train with stimulated echoes.

With refocusing angles below 180 deg (B1 below nominal, the edges of a 2D slice profile) a
CPMG train carries stimulated echoes: the first echo lacks them, echo 2 can reach echo 1
and the decay alternates, so a mono-exponential fit reads T2 long. Here each voxel's echoes
are matched to an extended-phase-graph (EPG) dictionary over T2 and the refocusing angle
(Lebel RM, Wilman AH, Magn Reson Med 2010;64:1005-1014; Ben-Eliezer N et al., Magn Reson
Med 2015;73:809-817), simulated by :func:`msklabel.data.simulation.sequence.cpmg_echoes`
(T1 fixed at :data:`T1_MS`).

A 2D multi-slice series refocuses each slice with a profile of angles: the slice's edges
see less than its centre, so its train is a sum of trains that no single angle matches
(fitted with one angle, T2 reads 12-20 % long). By default each atom is therefore the sum
over a :class:`SliceProfile` (McPhee KC, Wilman AH, Magn Reson Med 2017;77:2057-2065), and
the fitted angle is the refocusing angle at the slice centre (180 deg x B1).

The fit works on squared magnitudes: with Rician noise of standard deviation ``sigma``
``E[S^2] = PD^2 d^2 + 2 sigma^2``, so ``y = S^2 - 2 sigma^2`` is linear in ``P = PD^2``
and ``P`` has a closed form per atom ``d``: ``P = max(0, y . d^2) / |d^2|^2``; the best atom
maximises ``max(0, y . d^2)^2 / |d^2|^2``. The search is vectorised over voxels: a coarse
grid (every third angle and T2), then the fine atoms around the coarse winner,
then a quadratic through the 3 x 3 fine scores around the best for T2 and angle between
grid points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from msklabel.biomarkers.relaxometry import (
    RelaxationMap,
    echo_signal,
    estimate_noise_sigma,
    fitted_voxels,
    noise_corrected_r_squared,
    relaxation_map,
)
from msklabel.data.simulation.sequence import cpmg_echoes, slice_profile
from msklabel.volume import Volume

#: Longitudinal relaxation time (ms) of every atom: over a few ms of echo spacing T1 only
#: weakly shapes the stimulated echoes (cartilage and meniscus 3 T T1: about 1000-1300 ms).
T1_MS = 1000.0
#: Refocusing angles (deg) of the dictionary (at the slice centre with a slice profile; up to
#: B1 1.1 there, and without one an angle above 180 deg acts as 360 deg minus it).
ANGLES_DEG = np.arange(90.0, 198.0 + 1e-9, 2.0)
#: T2 values (ms) of the dictionary: 2 % apart.
T2_MS = np.geomspace(1.0, 500.0, 321)
#: Echo times may depart from a multiple of the spacing by this share of it.
SPACING_TOLERANCE = 0.02
#: The coarse grid takes every n-th angle and every n-th T2 of the fine one.
_COARSE_STEP = (3, 3)
#: Voxels fitted at once (bounds the memory of the voxel x atom scores).
_CHUNK = 4096
#: Offsets of a 3 x 3 neighbourhood and the least-squares map from its 9 values to the
#: coefficients of ``c0 + c1 x + c2 y + c3 x^2 + c4 y^2 + c5 x y``.
_X, _Y = (a.ravel() for a in np.meshgrid([-1, 0, 1], [-1, 0, 1], indexing="ij"))
_QUADRATIC = np.linalg.pinv(np.stack([_X**0, _X, _Y, _X**2, _Y**2, _X * _Y], axis=1))


@dataclass(frozen=True)
class SliceProfile:
    """The slice profile of a 2D acquisition: Hann-windowed sinc pulses of these
    time-bandwidth products (small-tip profiles, :func:`slice_profile`), sampled at
    ``positions`` points from the slice centre out to ``extent`` slice thicknesses."""

    excitation_tbw: float = 2.7
    refocusing_tbw: float = 2.0
    extent: float = 1.25
    positions: int = 5

    def relative_angles(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Excitation and refocusing angle over their values at the centre at each
        position, and its weight (a position off the centre stands for both sides)."""
        offsets = np.linspace(0.0, self.extent, self.positions)
        weights = np.where(offsets > 0, 2.0, 1.0)
        excitation = slice_profile(offsets, self.excitation_tbw)
        return excitation, slice_profile(offsets, self.refocusing_tbw), weights


#: The profile assumed for multi-slice series: short pulses as multi-echo trains use, the
#: ones the knee simulation assumes (:mod:`msklabel.data.simulation.presets`). Pulses from
#: time-bandwidth 2/1.5 to 4/4 give T2 within 2 % with it (docs/biomarkers.md).
SLICE_PROFILE_2D = SliceProfile()


def cpmg_spacing(times: Sequence[float]) -> float | None:
    """The echo spacing (ms) if ``times`` are the first echoes of a CPMG train
    (``TE_k = k * spacing``, k = 1, 2, ...), else None."""
    t = np.asarray(times, dtype=np.float64)
    if t.size < 2 or t[0] <= 0:
        return None
    spacing = float(t[0])
    expected = spacing * np.arange(1, t.size + 1)
    return spacing if np.abs(t - expected).max() <= SPACING_TOLERANCE * spacing else None


def fit_epg_t2(
    echoes: Sequence[Volume],
    *,
    times: Sequence[float] | None = None,
    mask: np.ndarray | None = None,
    noise_sigma: float | None = None,
    profile: SliceProfile | None = None,
    min_r_squared: float = 0.0,
    bounds_ms: tuple[float, float] = (T2_MS[1], T2_MS[-2]),
) -> RelaxationMap:
    """Fit T2, refocusing angle and amplitude in every voxel of ``mask`` (default: all)
    whose first echo lies above the noise floor, with atoms summed over ``profile`` (None:
    one refocusing angle per voxel, as in a 3D or an ideal slice).

    ``times`` (default the volumes' ``echo_time``) must be ``k * spacing`` for k = 1..n,
    n >= 3. A voxel is valid where T2 lies within ``bounds_ms`` (by default: not on the
    dictionary's first or last T2) and R^2 of the noise-corrected model reaches
    ``min_r_squared``.
    """
    signal, t = echo_signal(echoes, times)
    spacing = cpmg_spacing(t)
    if spacing is None:
        raise ValueError(f"echo times {t.tolist()} ms are not k x spacing: not a CPMG train")
    if t.size < 3:
        raise ValueError(f"an EPG fit (T2, angle, amplitude) needs 3 echoes, got {t.size}")
    sigma = estimate_noise_sigma(signal[..., 0]) if noise_sigma is None else noise_sigma
    selected = fitted_voxels(signal, mask, sigma)
    s = signal[selected]
    table = _dictionary(round(spacing, 6), t.size, profile)
    y = s**2 - 2 * sigma**2
    angle_index, time_index = np.empty(len(s)), np.empty(len(s))
    for start in range(0, len(s), _CHUNK):
        part = slice(start, start + _CHUNK)
        angle_index[part], time_index[part] = _match(y[part], table)
    unit = _interpolate(table.echoes, angle_index, time_index)
    power = np.maximum((y * unit**2).sum(axis=1), 0.0) / np.maximum((unit**4).sum(axis=1), 1e-30)
    amplitude = np.sqrt(power)
    time = T2_MS[0] * (T2_MS[1] / T2_MS[0]) ** time_index
    angle = ANGLES_DEG[0] + (ANGLES_DEG[1] - ANGLES_DEG[0]) * angle_index
    r_squared = noise_corrected_r_squared(s, amplitude[:, None] * unit, sigma)
    ok = (r_squared >= min_r_squared) & (time >= bounds_ms[0]) & (time <= bounds_ms[1])
    ok &= power > 0
    values = {"time": time, "amplitude": amplitude, "r_squared": r_squared, "refocusing": angle}
    method = "epg" if profile is None else "epg-slice-profile"
    return relaxation_map(echoes[0], selected, values, ok, sigma, method)


@dataclass(frozen=True)
class _Table:
    """The dictionary of one echo train."""

    echoes: np.ndarray  #: echo amplitudes ``[angle, T2, echo]`` for unit magnetisation
    atoms: np.ndarray  #: squared echoes over their norm, ``[angle * T2, echo]`` (float32)
    coarse: np.ndarray  #: flat indices of the coarse grid's atoms
    coarse_atoms: np.ndarray  #: ``atoms[coarse]``


@lru_cache(maxsize=4)
def _dictionary(spacing: float, echoes: int, profile: SliceProfile | None) -> _Table:
    if profile is None:
        table = cpmg_echoes(T1_MS, T2_MS[None, :], 90.0, ANGLES_DEG[:, None], spacing, echoes)
    else:
        excitation, refocusing, weights = profile.relative_angles()
        centre = ANGLES_DEG[:, None, None]
        trains = cpmg_echoes(
            T1_MS, T2_MS[None, :, None], centre / 2 * excitation, centre * refocusing,
            spacing, echoes,
        )  # fmt: skip
        table = np.einsum("atpe,p->ate", trains, weights)
    squared = table.reshape(-1, echoes) ** 2
    atoms = (squared / np.linalg.norm(squared, axis=1, keepdims=True)).astype(np.float32)
    step_a, step_t = _COARSE_STEP
    grid = np.arange(squared.shape[0]).reshape(table.shape[:2])
    coarse = grid[::step_a, ::step_t].ravel()
    return _Table(table, atoms, coarse, np.ascontiguousarray(atoms[coarse]))


def _match(y: np.ndarray, table: _Table) -> tuple[np.ndarray, np.ndarray]:
    """Fractional (angle, T2) indices of the best atom for each row of ``y`` (squared,
    noise-floor corrected echoes): the atom of largest ``y . atom`` (the closed-form
    amplitude's residual falls as it grows)."""
    y = y.astype(np.float32)
    shape = table.echoes.shape[:2]

    def around(a: np.ndarray, t: np.ndarray, reach: tuple[int, int]) -> tuple:
        """Fine (angle, T2) indices within ``reach`` of (a, t), per voxel, and scores."""
        da, dt = np.meshgrid(*(np.arange(-r, r + 1) for r in reach), indexing="ij")
        ia = np.clip(a[:, None] + da.ravel(), 0, shape[0] - 1)
        it = np.clip(t[:, None] + dt.ravel(), 0, shape[1] - 1)
        atoms = table.atoms[ia * shape[1] + it]
        return ia, it, np.einsum("ve,vke->vk", y, atoms)

    best = (y @ table.coarse_atoms.T).argmax(axis=1)
    ia, it, scores = around(*np.unravel_index(table.coarse[best], shape), _COARSE_STEP)
    best = scores.argmax(axis=1)[:, None]
    a = np.clip(np.take_along_axis(ia, best, 1)[:, 0], 1, shape[0] - 2)
    t = np.clip(np.take_along_axis(it, best, 1)[:, 0], 1, shape[1] - 2)
    c = around(a, t, (1, 1))[2].astype(np.float64) @ _QUADRATIC.T
    hessian_det = 4 * c[:, 3] * c[:, 4] - c[:, 5] ** 2
    peak = (c[:, 3] < 0) & (hessian_det > 0)
    det = np.where(peak, hessian_det, 1.0)
    da = np.where(peak, (c[:, 5] * c[:, 2] - 2 * c[:, 4] * c[:, 1]) / det, 0.0)
    dt = np.where(peak, (c[:, 5] * c[:, 1] - 2 * c[:, 3] * c[:, 2]) / det, 0.0)
    return a + np.clip(da, -1, 1), t + np.clip(dt, -1, 1)


def _interpolate(table: np.ndarray, a: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``table[angle, T2, :]`` at fractional indices."""
    a0 = np.clip(np.floor(a).astype(int), 0, table.shape[0] - 2)
    t0 = np.clip(np.floor(t).astype(int), 0, table.shape[1] - 2)
    fa, ft = (a - a0)[:, None], (t - t0)[:, None]
    low = table[a0, t0] * (1 - ft) + table[a0, t0 + 1] * ft
    high = table[a0 + 1, t0] * (1 - ft) + table[a0 + 1, t0 + 1] * ft
    return low * (1 - fa) + high * fa
