"""Series selection rules."""

from __future__ import annotations

import pytest

from msklabel.pacs.rules import (
    DEFAULT_RULES,
    Rule,
    SeriesSummary,
    rule_from_dict,
    select_series,
)


def _series(uid: str, **values: object) -> SeriesSummary:
    base = {"modality": "MR", "body_part": "", "description": "", "orientation": "sagittal",
            "echoes": 1, "slices": 24, "rows": 256, "columns": 256}  # fmt: skip
    return SeriesSummary(uid, **{**base, **values})  # type: ignore[arg-type]


def test_the_first_matching_rule_picks_its_largest_series() -> None:
    rules = [
        rule_from_dict({"name": "t2-map", "description": "t2", "min_echoes": 4}),
        rule_from_dict({"name": "any-sagittal", "orientation": "sagittal"}),
    ]
    series = [
        _series("1.1", description="T2 map", echoes=8),
        _series("1.2", description="T2 map", echoes=2),
        _series("1.3", description="PD", slices=60),
    ]
    chosen = select_series(series, rules)
    assert (chosen.series.series_instance_uid, chosen.rule) == ("1.1", "t2-map")
    fallback = select_series(series[1:], rules)
    assert (fallback.series.series_instance_uid, fallback.rule) == ("1.3", "any-sagittal")


def test_a_study_nothing_matches_is_skipped_with_every_reason() -> None:
    series = [_series("2.1", modality="CT"), _series("2.2", body_part="SHOULDER"),
              _series("2.3", slices=4), _series("2.4", rows=32)]  # fmt: skip
    selection = select_series(series, DEFAULT_RULES)
    assert selection.series is None
    reason = selection.skipped_reason
    assert "modality CT not in ['MR']" in reason
    assert "body part 'SHOULDER' does not match" in reason
    assert "4 slices, not 8-4096" in reason
    assert "32x256 images, smaller than 64x64" in reason


def test_the_default_rule_takes_a_knee_mr_with_or_without_body_part() -> None:
    assert select_series([_series("3.1", body_part="KNEE")], DEFAULT_RULES).series
    assert select_series([_series("3.2")], DEFAULT_RULES).series


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        rule_from_dict({"name": "x", "modalty": "MR"})
    with pytest.raises(ValueError, match="orientation"):
        Rule("x", orientation=("oblique",))
