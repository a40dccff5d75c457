"""The EPG dictionary T2 fit on simulated CPMG trains with stimulated echoes (refocusing
angles 120-160 deg, echo 2 raised towards echo 1), the sample's echo times and Rician noise:
median T2 per tissue within 5 % of truth at SNR 15 and more, beside the old
mono-exponential fit of echoes 2-8 on the same voxels.

``pytest -s tests/biomarkers/test_epg_t2.py -k median`` prints the table of docs/biomarkers.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.biomarkers.epg_t2 import cpmg_spacing, fit_epg_t2
from msklabel.biomarkers.relaxometry import RelaxationMap, fit_relaxation
from msklabel.testing.cpmg import SAMPLE_ECHO_TIMES, CpmgSeries, simulate_cpmg
from msklabel.volume import Volume

SNRS = (15.0, 30.0, 60.0)
#: Voxels per tissue.
VOXELS = 2000


@pytest.fixture(scope="module", params=SNRS, ids=lambda snr: f"snr{snr:g}")
def fitted(request) -> tuple[CpmgSeries, RelaxationMap, RelaxationMap]:
    """A series, its EPG fit and the old fit (mono-exponential, echoes 2-8)."""
    series = simulate_cpmg(request.param, voxels=VOXELS)
    epg = fit_epg_t2(series.echoes, noise_sigma=series.sigma)
    mono = fit_relaxation(series.echoes[1:], noise_sigma=series.sigma)
    return series, epg, mono


def _medians(series: CpmgSeries, fit: RelaxationMap) -> dict[str, tuple[int, float]]:
    """Tissue -> (voxels fitted, median T2 in ms)."""
    out = {}
    for row, name in enumerate(series.truth_t2):
        inside = (series.tissue == row) & fit.valid
        out[name] = int(inside.sum()), float(np.median(fit.time.array[inside]))
    return out


def _error(median: float, truth: float) -> float:
    return 100.0 * (median / truth - 1.0)


def test_the_simulation_has_the_stimulated_echo_pattern():
    """Echo 2 lies above what echo 1 and the true T2 predict (the sample: echo 2 >= echo 1
    in cartilage), and the decay ratios alternate."""
    series = simulate_cpmg(np.inf, voxels=200)
    spacing = SAMPLE_ECHO_TIMES[0]
    for row, t2 in enumerate(series.truth_t2.values()):
        train = np.array([v.array[0, row, :200].mean() for v in series.echoes])
        ratios = train[1:] / train[:-1]
        assert ratios[0] > 1.05 * np.exp(-spacing / t2), (t2, ratios)
        assert ratios[0] > ratios[1] < ratios[2], (t2, ratios)


def test_median_t2_within_5_percent_of_truth(fitted):
    series, epg, mono = fitted
    new, old = _medians(series, epg), _medians(series, mono)
    print(f"\nSNR {series.snr:g}: tissue, voxels, truth, EPG median (error), mono 2-8 (error)")
    for name, truth in series.truth_t2.items():
        (count, median), (old_count, old_median) = new[name], old[name]
        print(
            f"  {name}: {count} voxels, {truth:g} ms, EPG {median:.2f} ms "
            f"({_error(median, truth):+.1f} %), mono {old_count} voxels {old_median:.2f} ms "
            f"({_error(old_median, truth):+.1f} %)"
        )
    for name, truth in series.truth_t2.items():
        count, median = new[name]
        message = f"{name} at SNR {series.snr:g}: median {median:.2f} ms of {count} voxels"
        assert count >= 0.99 * VOXELS, message
        assert abs(median / truth - 1.0) <= 0.05, message


def test_the_epg_fit_beats_the_mono_exponential_one(fitted):
    series, epg, mono = fitted
    new, old = _medians(series, epg), _medians(series, mono)
    worst_new = max(abs(_error(new[n][1], t)) for n, t in series.truth_t2.items())
    worst_old = max(abs(_error(old[n][1], t)) for n, t in series.truth_t2.items())
    assert worst_new < worst_old, (worst_new, worst_old)


def test_fitted_refocusing_angle_is_the_true_one(fitted):
    series, epg, _ = fitted
    inside = epg.valid & (series.tissue >= 0)
    error = epg.refocusing.array[inside] - series.refocusing_deg[inside]
    assert abs(np.median(error)) < 1.0, np.median(error)


def test_noise_free_trains_give_t2_and_angle_almost_exactly():
    series = simulate_cpmg(np.inf, voxels=500)
    fit = fit_epg_t2(series.echoes, noise_sigma=0.0)
    truth = np.array(list(series.truth_t2.values()))[series.tissue]
    assert fit.valid.all()
    np.testing.assert_allclose(fit.time.array, truth, rtol=0.005)
    np.testing.assert_allclose(fit.refocusing.array, series.refocusing_deg, atol=0.5)


def test_mono_exponential_decay_is_the_180_degree_atom():
    """A perfect train (the knee phantom's signal) fits near 180 deg (the train changes
    only to second order in 180 - angle) with its own T2 and amplitude."""
    times = np.array(SAMPLE_ECHO_TIMES)
    t2 = np.array([[[8.0, 20.0, 37.0, 70.0, 140.0]]])
    echoes = [Volume(100 * np.exp(-te / t2), np.eye(4), echo_time=te) for te in times]
    fit = fit_epg_t2(echoes, noise_sigma=0.0)
    np.testing.assert_allclose(fit.time.array, t2, rtol=0.005)
    np.testing.assert_allclose(fit.refocusing.array, 180.0, atol=3.0)
    np.testing.assert_allclose(fit.amplitude.array, 100.0, rtol=0.005)


def test_noise_sigma_estimated_from_the_background():
    series = simulate_cpmg(30.0, voxels=2000, background=6000, seed=1)
    fit = fit_epg_t2(series.echoes)
    assert fit.noise_sigma == pytest.approx(1.0, rel=0.1)
    for name, (count, median) in _medians(series, fit).items():
        assert abs(median / series.truth_t2[name] - 1.0) <= 0.05, (name, count, median)


@pytest.mark.parametrize(
    ("times", "spacing"),
    [
        (SAMPLE_ECHO_TIMES, 6.312),
        ((10.0, 20.0, 30.0), 10.0),
        ((10.0, 20.1, 29.9), 10.0),
        ((10.0, 20.0, 40.0), None),
        ((20.0, 30.0, 40.0), None),
        ((5.0,), None),
    ],
)
def test_cpmg_spacing(times, spacing):
    found = cpmg_spacing(times)
    assert found == (None if spacing is None else pytest.approx(spacing))


def test_times_of_no_cpmg_train_or_too_few_echoes_are_refused():
    series = simulate_cpmg(30.0, voxels=10)
    with pytest.raises(ValueError, match="not a CPMG train"):
        fit_epg_t2(series.echoes[:3], times=[10.0, 20.0, 40.0])
    with pytest.raises(ValueError, match="needs 3 echoes"):
        fit_epg_t2(series.echoes[:2])
