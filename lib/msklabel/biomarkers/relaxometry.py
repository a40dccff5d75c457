"""T2 (and T1rho) maps from multi-echo (or multi-spin-lock) magnitude series.

The signal of each voxel is fitted with a mono-exponential decay
``S(t) = A * exp(-t / T)`` in two steps, vectorised over all voxels:

1. a log-linear least-squares fit, weighted by ``S^2`` (the inverse variance of ``log S``),
   over the echoes whose signal lies above the noise floor (``NOISE_FLOOR`` x sigma);
2. a Gauss-Newton refinement with Levenberg damping of the noise-corrected model
   ``S(t) = sqrt(A^2 exp(-2 t / T) + 2 sigma^2)`` over every echo (the magnitude of
   Rician noise of standard deviation ``sigma`` per channel has ``E[S^2] = A^2 + 2 sigma^2``;
   Raya et al., Magn Reson Med 2010;63:181-193).

``sigma`` is given or estimated as the mode of the background (Rayleigh-distributed)
intensities of the first echo. A voxel's fit is kept when its coefficient of determination
reaches ``min_r_squared`` and ``T`` lies within ``bounds_ms``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from msklabel.volume import Volume

#: Echoes whose signal is below this multiple of sigma are left out of the log-linear fit.
NOISE_FLOOR = 3.0
#: Gauss-Newton iterations of the refinement.
_ITERATIONS = 30


@dataclass(frozen=True)
class RelaxationMap:
    """A fitted relaxation-time map and its goodness of fit, on the echoes' geometry."""

    time: Volume  #: relaxation time (T2 or T1rho) in ms, NaN where not valid
    amplitude: Volume  #: fitted signal at t = 0
    r_squared: Volume  #: coefficient of determination of the fit
    valid: np.ndarray  #: boolean [slice, row, column]: fitted and passing the quality rules
    noise_sigma: float  #: noise standard deviation used (signal units)
    method: str = "mono-exponential"  #: the signal model fitted
    #: the fitted refocusing angle in degrees (models with stimulated echoes only)
    refocusing: Volume | None = None


def estimate_noise_sigma(image: np.ndarray) -> float:
    """The Rician noise sigma of a magnitude image: the mode of its background intensities.

    Where the true signal is zero the magnitude is Rayleigh-distributed, whose mode is
    sigma; the background (air) is the first peak of the histogram of the low intensities.
    """
    values = np.asarray(image, dtype=np.float64).ravel()
    values = values[values > 0]
    if values.size == 0:
        return 0.0
    low = values[values <= np.percentile(values, 50)]
    counts, edges = np.histogram(low, bins=min(100, max(10, low.size // 50)))
    peak = int(np.argmax(counts))
    return float(0.5 * (edges[peak] + edges[peak + 1]))


def echo_times(echoes: Sequence[Volume], times: Sequence[float] | None = None) -> np.ndarray:
    """The echoes' times in ms (``times``, by default the volumes' ``echo_time``), checked:
    one per echo, increasing strictly."""
    if times is None:
        if any(volume.echo_time is None for volume in echoes):
            raise ValueError("an echo has no echo time: give times explicitly")
        times = [float(volume.echo_time) for volume in echoes]  # type: ignore[arg-type]
    t = np.asarray(times, dtype=np.float64)
    if t.shape != (len(echoes),):
        raise ValueError(f"need one time per echo: {len(echoes)} echoes, times {list(times)}")
    if not (np.isfinite(t).all() and (np.diff(t) > 0).all()):
        raise ValueError(f"echo times must increase strictly, got {t.tolist()} ms")
    return t


def echo_signal(
    echoes: Sequence[Volume], times: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The echoes stacked ``[slice, row, column, echo]`` and their times (ms, by default the
    volumes' ``echo_time``), checked: two echoes or more on one geometry, finite values,
    times increasing strictly."""
    if len(echoes) < 2:
        raise ValueError(f"a relaxation fit needs at least two echoes, got {len(echoes)}")
    first = echoes[0]
    for volume in echoes[1:]:
        problem = first.grid_mismatch(volume)
        if problem is not None:
            raise ValueError(f"all echoes must share one geometry: {problem}")
    t = echo_times(echoes, times)
    signal = np.stack([np.asarray(v.array, dtype=np.float64) for v in echoes], axis=-1)
    bad = ~np.isfinite(signal)
    if bad.any():
        echo = int(np.argmax(bad.any(axis=(0, 1, 2))))
        raise ValueError(
            f"the echoes hold {int(bad.sum())} NaN or infinite values (first in echo {echo + 1},"
            f" TE {t[echo]:g} ms)"
        )
    return signal, t


def fitted_voxels(signal: np.ndarray, mask: np.ndarray | None, sigma: float) -> np.ndarray:
    """The voxels of ``mask`` (default: all) whose first echo lies above the noise floor."""
    selected = np.ones(signal.shape[:-1], bool) if mask is None else np.array(mask, bool)
    if selected.shape != signal.shape[:-1]:
        raise ValueError(f"mask shape {selected.shape} differs from echoes {signal.shape[:-1]}")
    return selected & (signal[..., 0] > NOISE_FLOOR * sigma)


def noise_corrected_r_squared(s: np.ndarray, decay: np.ndarray, sigma: float) -> np.ndarray:
    """R^2 of each row of ``s`` against the model ``sqrt(decay^2 + 2 sigma^2)``."""
    model = np.sqrt(decay**2 + 2 * sigma**2)
    residual = ((s - model) ** 2).sum(axis=1)
    total = ((s - s.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    return 1.0 - residual / np.maximum(total, 1e-12)


def relaxation_map(
    first: Volume,
    selected: np.ndarray,
    values: dict[str, np.ndarray],
    ok: np.ndarray,
    sigma: float,
    method: str,
) -> RelaxationMap:
    """Scatter per-voxel ``values`` ("time", "amplitude", "r_squared", optional
    "refocusing") of the ``selected`` voxels onto ``first``'s grid; NaN elsewhere, and
    time and refocusing NaN where not ``ok``."""

    def scatter(name: str, masked: bool) -> Volume:
        out = np.full(first.shape, np.nan, dtype=np.float32)
        out[selected] = np.where(ok, values[name], np.nan) if masked else values[name]
        return first.with_array(out)

    valid = np.zeros(first.shape, bool)
    valid[selected] = ok
    return RelaxationMap(
        time=scatter("time", True),
        amplitude=scatter("amplitude", False),
        r_squared=scatter("r_squared", False),
        valid=valid,
        noise_sigma=float(sigma),
        method=method,
        refocusing=scatter("refocusing", True) if "refocusing" in values else None,
    )


def fit_relaxation(
    echoes: Sequence[Volume],
    *,
    times: Sequence[float] | None = None,
    mask: np.ndarray | None = None,
    noise_sigma: float | None = None,
    min_r_squared: float = 0.9,
    bounds_ms: tuple[float, float] = (1.0, 500.0),
) -> RelaxationMap:
    """Fit ``S(t) = A exp(-t/T)`` in every voxel of ``mask`` (default: all).

    ``times`` are the echo times (T2) or spin-lock times (T1rho) in ms, increasing; by
    default the volumes' ``echo_time``. All volumes must share one geometry.
    """
    signal, t = echo_signal(echoes, times)
    sigma = estimate_noise_sigma(signal[..., 0]) if noise_sigma is None else noise_sigma
    selected = fitted_voxels(signal, mask, sigma)
    s = signal[selected]

    amplitude, rate = _log_linear(s, t, NOISE_FLOOR * sigma)
    amplitude, rate = _refine(s, t, sigma, amplitude, rate)
    r_squared = noise_corrected_r_squared(s, amplitude[:, None] * np.exp(-rate[:, None] * t), sigma)
    with np.errstate(divide="ignore"):
        time = np.where(rate > 0, 1.0 / rate, np.inf)
    ok = (r_squared >= min_r_squared) & (time >= bounds_ms[0]) & (time <= bounds_ms[1])
    values = {"time": time, "amplitude": amplitude, "r_squared": r_squared}
    return relaxation_map(echoes[0], selected, values, ok, sigma, "mono-exponential")


def _log_linear(s: np.ndarray, t: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Weighted fit of ``log S = log A - R t`` over the echoes above ``floor``."""
    weights = np.where(s > floor, s**2, 0.0)
    log_s = np.log(np.maximum(s, 1e-12))
    sw = weights.sum(axis=1)
    st, stt = weights @ t, weights @ t**2
    sy, sty = (weights * log_s).sum(axis=1), (weights * log_s * t).sum(axis=1)
    det = sw * stt - st**2
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(det > 0, (sw * sty - st * sy) / det, 0.0)
        intercept = np.where(sw > 0, (sy - slope * st) / sw, log_s[:, 0])
    rate = np.clip(-slope, 1e-4, 10.0)
    return np.exp(intercept), rate


def _refine(
    s: np.ndarray, t: np.ndarray, sigma: float, amplitude: np.ndarray, rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Levenberg-damped Gauss-Newton on ``sqrt(A^2 exp(-2 R t) + 2 sigma^2)``."""
    floor = 2 * sigma**2
    damping = np.full(len(s), 1e-3)

    def cost(a: np.ndarray, r: np.ndarray) -> np.ndarray:
        model = np.sqrt((a[:, None] * np.exp(-r[:, None] * t)) ** 2 + floor)
        return ((s - model) ** 2).sum(axis=1)

    current = cost(amplitude, rate)
    for _ in range(_ITERATIONS):
        decay = np.exp(-rate[:, None] * t)
        model = np.sqrt((amplitude[:, None] * decay) ** 2 + floor)
        d_a = amplitude[:, None] * decay**2 / model
        d_r = -t * amplitude[:, None] ** 2 * decay**2 / model
        residual = s - model
        jaa, jar, jrr = (d_a * d_a).sum(1), (d_a * d_r).sum(1), (d_r * d_r).sum(1)
        ga, gr = (d_a * residual).sum(1), (d_r * residual).sum(1)
        jaa_d, jrr_d = jaa * (1 + damping), jrr * (1 + damping)
        det = jaa_d * jrr_d - jar**2
        safe = np.abs(det) > 1e-30
        det = np.where(safe, det, 1.0)
        step_a = np.where(safe, (jrr_d * ga - jar * gr) / det, 0.0)
        step_r = np.where(safe, (jaa_d * gr - jar * ga) / det, 0.0)
        trial_a = np.maximum(amplitude + step_a, 1e-6)
        trial_r = np.clip(rate + step_r, 1e-4, 10.0)
        trial = cost(trial_a, trial_r)
        better = trial < current
        amplitude = np.where(better, trial_a, amplitude)
        rate = np.where(better, trial_r, rate)
        current = np.where(better, trial, current)
        damping = np.where(better, damping / 3, damping * 4)
    return amplitude, rate
