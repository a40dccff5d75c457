"""The mono-exponential fit and the checks every relaxation fit makes of its input."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.biomarkers.relaxometry import echo_signal, fit_relaxation
from msklabel.volume import Volume


def _echoes(times, t2=30.0, amplitude=100.0) -> list[Volume]:
    t2 = np.full((2, 3, 4), t2)
    return [Volume(amplitude * np.exp(-te / t2), np.eye(4), echo_time=te) for te in times]


def test_noise_free_decay_gives_its_t2():
    fit = fit_relaxation(_echoes([10.0, 20.0, 30.0, 40.0]), noise_sigma=0.0)
    assert fit.valid.all() and fit.method == "mono-exponential"
    np.testing.assert_allclose(fit.time.array, 30.0, rtol=1e-4)
    np.testing.assert_allclose(fit.amplitude.array, 100.0, rtol=1e-4)


def test_the_callers_mask_is_left_as_it_was():
    mask = np.ones((2, 3, 4), bool)
    echoes = _echoes([10.0, 20.0, 30.0])
    echoes[0].array[0, 0, 0] = 0.0  # below the noise floor: not fitted
    fit_relaxation(echoes, mask=mask, noise_sigma=1.0)
    assert mask.all()


def test_one_echo_is_refused():
    with pytest.raises(ValueError, match="at least two echoes, got 1"):
        echo_signal(_echoes([10.0]))


@pytest.mark.parametrize("times", [[10.0, 30.0, 20.0], [10.0, 20.0, 20.0], [10.0, np.nan, 30.0]])
def test_echo_times_not_increasing_strictly_are_refused(times):
    with pytest.raises(ValueError, match="increase strictly"):
        fit_relaxation(_echoes([10.0, 20.0, 30.0]), times=times)


def test_one_time_per_echo_is_required():
    with pytest.raises(ValueError, match="one time per echo"):
        echo_signal(_echoes([10.0, 20.0, 30.0]), times=[10.0, 20.0])


def test_nan_in_the_echoes_is_refused():
    echoes = _echoes([10.0, 20.0, 30.0])
    echoes[1].array[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN or infinite values \(first in echo 2, TE 20 ms\)"):
        fit_relaxation(echoes)


def test_echoes_of_two_geometries_are_refused():
    echoes = _echoes([10.0, 20.0])
    echoes[1] = Volume(echoes[1].array, np.diag([2.0, 1.0, 1.0, 1.0]), echo_time=20.0)
    with pytest.raises(ValueError, match="one geometry"):
        echo_signal(echoes)
