"""Multi-echo spin-echo (CPMG) series with stimulated echoes and known T2, for testing T2
fits: every voxel has its own refocusing angle (one, or at the centre of a slice profile),
its echoes come from the EPG simulator (:func:`msklabel.data.simulation.sequence.cpmg_echoes`),
its noise is Rician."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from msklabel.biomarkers.epg_t2 import SliceProfile
from msklabel.data.simulation.sequence import cpmg_echoes
from msklabel.volume import Volume

#: Echo times (ms) of the real sample (GE 3 T multi-echo spin echo): 8 echoes 6.312 ms apart.
SAMPLE_ECHO_TIMES = tuple(6.312 * k for k in range(1, 9))
#: Tissue -> true T2 (ms): cartilage 25-50 ms, meniscus 12-18 ms.
TISSUE_T2_MS = {
    "cartilage 25": 25.0,
    "cartilage 35": 35.0,
    "cartilage 50": 50.0,
    "meniscus 12": 12.0,
    "meniscus 18": 18.0,
}
#: T1 (ms) of every tissue (3 T cartilage and meniscus: about 1000-1300 ms).
T1_MS = 1200.0


@dataclass(frozen=True)
class CpmgSeries:
    """The echoes (one row per tissue of ``truth_t2``) and what made them."""

    echoes: list[Volume]
    truth_t2: dict[str, float]  #: tissue -> true T2 (ms), in row order
    tissue: np.ndarray  #: row of ``truth_t2`` per voxel, -1 for background (air)
    #: true refocusing angle per voxel (at the slice centre with a profile), NaN in background
    refocusing_deg: np.ndarray
    sigma: float  #: noise standard deviation per channel
    snr: float  #: noise-free first echo of every tissue voxel over ``sigma``


def simulate_cpmg(
    snr: float,
    *,
    voxels: int = 4000,
    background: int = 0,
    angles_deg: tuple[float, float] = (120.0, 160.0),
    profile: SliceProfile | None = None,
    seed: int = 0,
) -> CpmgSeries:
    """``voxels`` voxels of each tissue of :data:`TISSUE_T2_MS` (then ``background`` voxels
    of air per row) with refocusing angles drawn uniformly from ``angles_deg`` (64 angles
    per tissue; excitation half of it), summed over ``profile`` (None: one angle), the
    sample's echo times, and a noise-free first echo of ``snr`` x sigma (sigma 1; no noise
    when ``snr`` is inf)."""
    rng = np.random.default_rng(seed)
    times = np.array(SAMPLE_ECHO_TIMES)
    shape = (len(TISSUE_T2_MS), voxels + background)
    signal = np.zeros((*shape, times.size))
    tissue = np.full(shape, -1)
    refocusing = np.full(shape, np.nan)
    for row, t2 in enumerate(TISSUE_T2_MS.values()):
        drawn = rng.uniform(*angles_deg, 64)
        trains = _trains(t2, drawn, profile, times[0], times.size)
        pick = rng.integers(0, drawn.size, voxels)
        signal[row, :voxels] = trains[pick] / trains[pick, :1]
        tissue[row, :voxels] = row
        refocusing[row, :voxels] = drawn[pick]
    noisy = not np.isinf(snr)
    sigma = 1.0 if noisy else 0.0
    noise = rng.normal(0.0, sigma, (2, *signal.shape))
    magnitude = np.hypot((snr if noisy else 1.0) * signal + noise[0], noise[1])
    echoes = [
        Volume(np.ascontiguousarray(magnitude[None, ..., k]), np.eye(4), echo_time=float(te))
        for k, te in enumerate(times)
    ]
    return CpmgSeries(echoes, dict(TISSUE_T2_MS), tissue[None], refocusing[None], sigma, snr)


def _trains(
    t2: float, angles: np.ndarray, profile: SliceProfile | None, spacing: float, echoes: int
) -> np.ndarray:
    """Echo trains ``[angle, echo]`` of one tissue, refocusing ``angles`` (at the slice centre)."""
    if profile is None:
        return cpmg_echoes(T1_MS, t2, angles / 2, angles, spacing, echoes)
    excitation, refocusing, weights = profile.relative_angles()
    centre = angles[:, None]
    trains = cpmg_echoes(T1_MS, t2, centre / 2 * excitation, centre * refocusing, spacing, echoes)
    return np.einsum("ape,p->ae", trains, weights)
