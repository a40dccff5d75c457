"""Series selection: which series of a study the pipeline processes, and why not the others.

A rule lists conditions; a series matches when it meets all of them. Patterns are Python
regular expressions searched case-insensitively in the attribute (an absent attribute is
the empty string, so ``"^(knee)?$"`` accepts a missing Body Part Examined).

.. code-block:: toml

    [[rules]]
    name = "knee-mr"
    modality = ["MR"]
    body_part = "^(knee)?$"
    description = ""                       # any
    orientation = ["sagittal", "coronal"]  # any if empty
    min_echoes = 1
    max_echoes = 32
    min_slices = 8                          # per echo
    max_slices = 1024
    min_rows = 64
    min_columns = 64

The first rule (in file order) with a matching series decides; among its matches the
series with the most images is processed. A study nothing matches is skipped, and the
reason names every series and the first condition each one failed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from msklabel.pacs.header import ORIENTATIONS, InstanceHeader


@dataclass(frozen=True)
class SeriesSummary:
    """What the rules look at, from the headers of a series' stored instances."""

    series_instance_uid: str
    modality: str
    body_part: str
    description: str
    orientation: str  #: one of :data:`ORIENTATIONS`, or "unknown"
    echoes: int
    slices: int  #: images per echo (the largest echo's count)
    rows: int
    columns: int

    @property
    def images(self) -> int:
        return self.echoes * self.slices

    @classmethod
    def of(cls, series_instance_uid: str, headers: Sequence[InstanceHeader]) -> SeriesSummary:
        """The summary of a series from its instances' headers (the first gives the texts)."""
        first = headers[0]
        per_echo: dict[float | None, int] = {}
        for header in headers:
            per_echo[header.echo_time] = per_echo.get(header.echo_time, 0) + 1
        return cls(
            series_instance_uid, first.modality, first.body_part, first.description,
            first.orientation, len(per_echo), max(per_echo.values()), first.rows, first.columns,
        )  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """One selection rule (see the module documentation)."""

    name: str
    modality: tuple[str, ...] = ("MR",)
    body_part: str = ""
    description: str = ""
    orientation: tuple[str, ...] = ()
    min_echoes: int = 1
    max_echoes: int = 64
    min_slices: int = 1
    max_slices: int = 4096
    min_rows: int = 1
    min_columns: int = 1

    def __post_init__(self) -> None:
        for pattern in (self.body_part, self.description):
            re.compile(pattern)
        bad = [o for o in self.orientation if o not in ORIENTATIONS]
        if bad:
            raise ValueError(f"rule {self.name!r}: orientation {bad} not in {ORIENTATIONS}")

    def mismatch(self, series: SeriesSummary) -> str | None:
        """Why ``series`` fails this rule (the first failed condition), or None if it matches."""
        checks = (
            (not self.modality or series.modality.upper() in {m.upper() for m in self.modality},
             f"modality {series.modality or 'absent'} not in {list(self.modality)}"),
            (_search(self.body_part, series.body_part),
             f"body part {series.body_part or 'absent'!r} does not match {self.body_part!r}"),
            (_search(self.description, series.description),
             f"description {series.description!r} does not match {self.description!r}"),
            (not self.orientation or series.orientation in self.orientation,
             f"orientation {series.orientation} not in {list(self.orientation)}"),
            (self.min_echoes <= series.echoes <= self.max_echoes,
             f"{series.echoes} echoes, not {self.min_echoes}-{self.max_echoes}"),
            (self.min_slices <= series.slices <= self.max_slices,
             f"{series.slices} slices, not {self.min_slices}-{self.max_slices}"),
            (series.rows >= self.min_rows and series.columns >= self.min_columns,
             f"{series.rows}x{series.columns} images, smaller than "
             f"{self.min_rows}x{self.min_columns}"),
        )  # fmt: skip
        return next((reason for ok, reason in checks if not ok), None)


#: Used when the configuration has no rules: knee MR series of 8 slices or more.
DEFAULT_RULES = (
    Rule("knee-mr", modality=("MR",), body_part="^(knee)?$", min_slices=8, min_rows=64,
         min_columns=64),
)  # fmt: skip


@dataclass(frozen=True)
class Selection:
    """The series chosen (and the rule that chose it), or None with the reasons."""

    series: SeriesSummary | None
    rule: str | None
    reasons: tuple[str, ...]  #: why each other series was not chosen

    @property
    def skipped_reason(self) -> str:
        """One message for a study nothing matched."""
        return "no series matches the selection rules: " + "; ".join(self.reasons or ("none",))


def select_series(series: Sequence[SeriesSummary], rules: Sequence[Rule]) -> Selection:
    """Apply ``rules`` in order to ``series`` (see the module documentation)."""
    reasons: list[str] = []
    for rule in rules:
        matching = [s for s in series if rule.mismatch(s) is None]
        if matching:
            chosen = max(matching, key=lambda s: (s.images, s.series_instance_uid))
            others = tuple(
                f"series {s.series_instance_uid}: rule {rule.name!r} chose "
                f"{chosen.series_instance_uid}"
                for s in series
                if s is not chosen
            )
            return Selection(chosen, rule.name, others)
        reasons.extend(
            f"series {s.series_instance_uid}: rule {rule.name!r}: {rule.mismatch(s)}"
            for s in series
        )
    return Selection(None, None, tuple(reasons))


def rule_from_dict(values: Mapping[str, Any]) -> Rule:
    """A :class:`Rule` from a configuration table; ``ValueError`` on unknown keys."""
    fields = {f.name for f in dataclasses.fields(Rule)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(f"[[rules]]: unknown keys {unknown} (known: {sorted(fields)})")
    if "name" not in values:
        raise ValueError("[[rules]]: every rule needs a name")
    converted = {
        k: tuple(v) if isinstance(v, list) else (v,) if k in ("modality", "orientation") and
        isinstance(v, str) else v
        for k, v in values.items()
    }  # fmt: skip
    return Rule(**converted)


def _search(pattern: str, value: str) -> bool:
    return not pattern or re.search(pattern, value or "", re.IGNORECASE) is not None
