"""Which T2 model a series gets: the EPG fit for a multi-echo spin echo (a CPMG train of
three echoes or more), the mono-exponential one otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.biomarkers.relaxometry import fit_relaxation
from msklabel.biomarkers.t2 import fit_t2, t2_method
from msklabel.testing.cpmg import SAMPLE_ECHO_TIMES, simulate_cpmg


@pytest.mark.parametrize(
    ("times", "method"),
    [
        (SAMPLE_ECHO_TIMES, "epg"),
        (tuple(6.5 * k for k in range(1, 9)), "epg"),  # the knee phantom's
        ((10.0, 20.0, 30.0), "epg"),
        ((10.0, 20.0), "mono-exponential"),
        ((10.0, 30.0, 60.0), "mono-exponential"),
        ((0.0, 10.0, 40.0, 80.0), "mono-exponential"),  # T1rho spin-lock times
    ],
)
def test_t2_method_follows_the_echo_times(times, method):
    assert t2_method(times) == method


def test_a_multi_echo_spin_echo_is_fitted_by_epg():
    series = simulate_cpmg(30.0, voxels=200)
    fit = fit_t2(series.echoes, noise_sigma=series.sigma)
    assert fit.method == "epg" and fit.refocusing is not None


def test_mono_exponential_leaves_out_the_first_echo_of_a_cpmg_train():
    series = simulate_cpmg(30.0, voxels=200)
    fit = fit_t2(series.echoes, method="mono-exponential", noise_sigma=series.sigma)
    old = fit_relaxation(series.echoes[1:], noise_sigma=series.sigma)
    assert fit.method == "mono-exponential"
    np.testing.assert_array_equal(fit.time.array, old.time.array)


def test_an_unknown_method_is_refused():
    series = simulate_cpmg(30.0, voxels=10)
    with pytest.raises(ValueError, match="method must be one of"):
        fit_t2(series.echoes, method="biexponential")


def test_one_echo_is_refused():
    series = simulate_cpmg(30.0, voxels=10)
    with pytest.raises(ValueError, match="at least two echoes"):
        fit_t2(series.echoes[:1])
