"""One line of the bench table: a figure, its reference measured in the same run, their ratio."""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass, field
from typing import Any

_COMPARE = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


@dataclass(frozen=True)
class Goal:
    """A target: ``on`` (``"value"`` or ``"ratio"``) compared by ``op`` with ``bound``."""

    on: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        if self.on not in ("value", "ratio") or self.op not in _COMPARE:
            raise ValueError(f"invalid goal {self}")

    def met(self, value: float, ratio: float) -> bool:
        return bool(_COMPARE[self.op](value if self.on == "value" else ratio, self.bound))

    def __str__(self) -> str:
        return f"{self.on} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class Row:
    """A measured figure and its reference; or, with ``unavailable``, why there is none.

    ``ratio`` is ``value / reference``: for times, how many times the reference (a compute
    limit or a peer) it takes; for throughputs, the share of the peer's rate.
    """

    family: str
    name: str
    unit: str
    value: float | None = None
    reference_name: str = ""
    reference: float | None = None
    goal: Goal | None = None
    note: str = ""
    unavailable: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.unavailable is None and not (
            self.reference_name and _finite(self.value) and _finite(self.reference)
        ):
            raise ValueError(f"row {self.name!r} needs a value, a named reference, or a reason")

    @classmethod
    def missing(cls, family: str, name: str, unit: str, reason: str) -> Row:
        """A row that could not be measured, saying why."""
        return cls(family, name, unit, unavailable=reason)

    @property
    def ratio(self) -> float | None:
        if self.unavailable is not None or not self.reference:
            return None
        return self.value / self.reference  # type: ignore[operator]

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.ratio is None:
            return None
        return self.goal.met(self.value, self.ratio)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["goal"] = None if self.goal is None else str(self.goal)
        data["ratio"] = self.ratio
        data["met"] = self.met
        return data


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
