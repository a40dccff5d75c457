"""One biomarker value, and a set of them with a JSON form."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: Voxel counts (derivation "count"): ``voxels``, the voxels of a structure's mask, given
#: beside its relaxation values; ``t2_voxels`` / ``t1rho_voxels``, the voxels the T2 / T1rho
#: statistics of the same structure (or region) are taken over.
COUNTS = ("voxels", "t2_voxels", "t1rho_voxels")
#: Quantities and their UCUM units.
UNITS = {
    "volume": "mm3",
    "thickness": "mm",
    "area": "mm2",
    "t2": "ms",
    "t1rho": "ms",
    "height": "mm",
    "cross_sectional_area": "mm2",
    **dict.fromkeys(COUNTS, "{voxels}"),
}
#: Statistics a measurement may be (None: the value itself, e.g. a volume; "count": a number
#: of voxels, the derivation of :data:`COUNTS` and only of them).
DERIVATIONS = ("mean", "sd", "median", "p5", "p95", "min", "max", "count")


@dataclass(frozen=True)
class Measurement:
    """A value of ``quantity`` for one labelled structure (and optionally one of its regions)."""

    structure: str  #: label key, e.g. ``femoral_cartilage``
    quantity: str  #: a key of :data:`UNITS`
    value: float
    derivation: str | None = None  #: one of :data:`DERIVATIONS`, or None
    region: str | None = None  #: region code, e.g. ``cMF`` (see msklabel.biomarkers.regions)

    def __post_init__(self) -> None:
        if self.quantity not in UNITS:
            raise ValueError(f"unknown quantity {self.quantity!r}")
        if self.derivation is not None and self.derivation not in DERIVATIONS:
            raise ValueError(f"unknown derivation {self.derivation!r}")
        if not math.isfinite(self.value):
            raise ValueError(f"{self.structure} {self.quantity}: value {self.value} not finite")
        if (self.quantity in COUNTS) != (self.derivation == "count"):
            raise ValueError(
                f"{self.quantity} with derivation {self.derivation!r}: 'count' is the derivation"
                f" of {COUNTS} and only of them"
            )
        if self.derivation == "count" and (self.value < 0 or self.value % 1):
            raise ValueError(f"{self.structure} {self.quantity}: {self.value} is not a count")
        object.__setattr__(self, "value", float(self.value))

    @property
    def unit(self) -> str:
        """UCUM unit of the value."""
        return UNITS[self.quantity]


def _row(m: Measurement) -> dict:
    """``m`` as a JSON row: its fields and unit, a count's value an integer."""
    return {**asdict(m), "value": int(m.value) if m.derivation == "count" else m.value,
            "unit": m.unit}  # fmt: skip


class Measurements:
    """An ordered collection of :class:`Measurement` with lookup and JSON I/O."""

    def __init__(self, items: Iterable[Measurement] = ()) -> None:
        self._items: list[Measurement] = []
        for item in items:
            self.add(item)

    def add(self, item: Measurement) -> None:
        key = (item.structure, item.region, item.quantity, item.derivation)
        if any((m.structure, m.region, m.quantity, m.derivation) == key for m in self._items):
            raise ValueError(f"duplicate measurement {key}")
        self._items.append(item)

    def __iter__(self) -> Iterator[Measurement]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def get(
        self,
        structure: str,
        quantity: str,
        derivation: str | None = None,
        region: str | None = None,
    ) -> float:
        """The value of one measurement; KeyError if absent."""
        for m in self._items:
            if (m.structure, m.quantity, m.derivation, m.region) == (
                structure,
                quantity,
                derivation,
                region,
            ):
                return m.value
        raise KeyError((structure, quantity, derivation, region))

    def groups(self) -> dict[tuple[str, str | None], list[Measurement]]:
        """Measurements grouped by (structure, region), in first-seen order."""
        grouped: dict[tuple[str, str | None], list[Measurement]] = {}
        for m in self._items:
            grouped.setdefault((m.structure, m.region), []).append(m)
        return grouped

    def to_json(self, source: dict | None = None, extra: Mapping[str, Any] | None = None) -> dict:
        """A JSON-ready dict: ``{"source": ..., "measurements": [{..., "unit": ...}]}`` (a
        count's value an integer) and the top-level keys of ``extra`` (readers of the rows
        ignore them)."""
        return {
            "source": source or {},
            "measurements": [_row(m) for m in self._items],
            **(extra or {}),
        }

    def write_json(
        self,
        path: str | os.PathLike[str],
        source: dict | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(self.to_json(source, extra), file, indent=2)
            file.write("\n")

    @classmethod
    def from_json(cls, data: Any) -> Measurements:
        """The measurements of a biomarkers JSON mapping (the one reader of that format).

        ValueError says which item is malformed: not a mapping, a missing key, a value
        that is not a finite number, an unknown quantity or derivation, a duplicate.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("measurements"), list):
            raise ValueError('not a biomarkers JSON: no "measurements" list')
        items = []
        for index, item in enumerate(data["measurements"]):
            try:
                if not isinstance(item, Mapping):
                    raise ValueError("not a mapping")
                value = item["value"]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"value {value!r} is not a number")
                for key in ("structure", "quantity", "derivation", "region"):
                    if item.get(key) is not None and not isinstance(item[key], str):
                        raise ValueError(f"{key} {item[key]!r} is not a string")
                items.append(Measurement(
                    structure=item["structure"],
                    quantity=item["quantity"],
                    value=value,
                    derivation=item.get("derivation"),
                    region=item.get("region"),
                ))  # fmt: skip
            except KeyError as error:
                raise ValueError(f"measurement {index}: missing key {error}") from None
            except (ValueError, OverflowError) as error:
                raise ValueError(f"measurement {index}: {error}") from None
        return cls(items)
