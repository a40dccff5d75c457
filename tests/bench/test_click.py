"""The click rows' timing in turns (no timing is asserted)."""

from __future__ import annotations

from msklabel.bench.click import alternating_timings


def test_calls_take_turns_on_every_prompt_and_go_first_in_turn():
    log: list[tuple[str, int]] = []
    calls = [lambda p, n=name: log.append((n, p)) for name in ("prepared", "stock")]
    seconds = alternating_timings(calls, [0, 1, 2])
    assert seconds.shape == (2, 3) and (seconds >= 0).all()
    assert log == [("prepared", 0), ("stock", 0), ("stock", 1), ("prepared", 1),
                   ("prepared", 2), ("stock", 2)]  # fmt: skip
