"""The structures an app labels: names (as viewers show them) and label values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from msklabel.labels import KneeLabel, SpineLabel, ThighLabel

#: Label enumerations whose keys a label set may name.
KNOWN = (KneeLabel, SpineLabel, ThighLabel)

#: The knee structures segmented by default (bones, cartilage plates, menisci).
KNEE_STRUCTURES = tuple(label.key for label in KneeLabel if label <= KneeLabel.LATERAL_MENISCUS)


@dataclass(frozen=True)
class LabelSet:
    """Ordered structure names and their label values (``{"femur": 1, ...}``)."""

    values: Mapping[str, int]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("a label set needs at least one structure")
        numbers = list(self.values.values())
        if any(value <= 0 for value in numbers) or len(set(numbers)) != len(numbers):
            raise ValueError(f"label values must be distinct and positive: {dict(self.values)}")

    @classmethod
    def parse(cls, text: str | Iterable[str] | None) -> LabelSet:
        """A label set from ``"femur,tibia"`` or ``"disc=1,vertebra=2"`` (None: the knee set).

        Names without values take their value from the first known enumeration (knee, spine,
        thigh) that holds them all; otherwise they are numbered 1, 2, ... in order.
        """
        if text is None:
            items = list(KNEE_STRUCTURES)
        elif isinstance(text, str):
            items = [item.strip() for item in text.split(",") if item.strip()]
        else:
            items = [str(item).strip() for item in text]
        if all("=" in item for item in items):
            pairs = (item.split("=", 1) for item in items)
            return cls({name.strip().lower(): int(value) for name, value in pairs})
        if any("=" in item for item in items):
            raise ValueError(f"give a value to every label or to none: {items}")
        names = [item.lower() for item in items]
        if len(set(names)) != len(names):
            raise ValueError(f"a label is named twice: {names}")
        for enumeration in KNOWN:
            keys = {label.key: int(label) for label in enumeration}
            if all(name in keys for name in names):
                return cls({name: keys[name] for name in names})
        return cls({name: number for number, name in enumerate(names, start=1)})

    @property
    def names(self) -> list[str]:
        return list(self.values)

    def value(self, name: str) -> int:
        """The label value of ``name`` (case-insensitive), or ValueError listing the names."""
        try:
            return self.values[name.lower()]
        except KeyError:
            raise ValueError(f"unknown label {name!r} (known: {', '.join(self.values)})") from None

    @property
    def automatic(self) -> bool:
        """Whether the knee detector can segment this set: knee structures with knee values."""
        knee = {label.key: int(label) for label in KneeLabel}
        return all(knee.get(name) == value for name, value in self.values.items())

    def structures(self) -> dict[int, str]:
        """Label value -> structure key, as DICOM SEG writing takes it."""
        return {value: name for name, value in self.values.items()}

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self.values
