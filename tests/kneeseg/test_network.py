"""Which echoes the knee network reads: the echo pairs of a multi-echo series."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.kneeseg.network import echo_pair, echo_pairs
from msklabel.volume import Volume


def _echoes(*times: float | None) -> list[Volume]:
    return [
        Volume(np.full((2, 4, 4), k, np.float32), np.eye(4), echo_time=t)
        for k, t in enumerate(times)
    ]


def _times(pairs: list[tuple[Volume, Volume]]) -> list[tuple[float | None, float | None]]:
    return [(early.echo_time, late.echo_time) for early, late in pairs]


def test_early_echoes_nearest_the_networks_own_come_first_three_at_most():
    echoes = _echoes(*(6.312 * k for k in range(1, 9)))  # the sample: 6.3-50.5 ms
    pairs = echo_pairs(echoes)
    rounded = [(round(early, 1), round(late, 1)) for early, late in _times(pairs)]
    # 25.2 ms is early enough too, but farther from 12 ms than the three kept
    assert rounded == [(12.6, 50.5), (6.3, 44.2), (18.9, 50.5)]
    assert echo_pair(echoes) == pairs[0]


def test_echoes_outside_the_early_times_make_no_pair():
    # 10 ms first; 20 and 30 ms are early enough; 40 ms and later are not early echoes
    assert _times(echo_pairs(_echoes(10, 20, 30, 40, 50, 60, 70))) == [(10, 40), (20, 50), (30, 60)]
    # 16 ms is early, but its late echo (24 ms) follows it by less than 15 ms
    assert _times(echo_pairs(_echoes(8, 16, 24))) == [(8, 24)]
    # 1.5 T, 13.8 ms apart: two early echoes
    assert len(echo_pairs(_echoes(*(13.8 * k for k in range(1, 9))))) == 2


def test_one_image_or_no_echo_times_is_read_twice():
    (single,) = _echoes(30)
    assert echo_pairs([single]) == [(single, single)]
    untimed = _echoes(None, None)
    assert echo_pairs(untimed) == [(untimed[0], untimed[0])]
    with pytest.raises(ValueError, match="no image"):
        echo_pairs([])
