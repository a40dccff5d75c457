"""One study's clinical predictions: typed, JSON-serialisable, ready for the SR.

:meth:`StudyPrediction.sr_items` turns the prediction into plain items that the
TID 1500 SR writer stores: a probability as a numeric item (UCUM ``1``), a decision
as a coded qualitative evaluation (SNOMED CT Present / Absent).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

#: (code value, coding scheme, code meaning)
Code = tuple[str, str, str]
PRESENT: Code = ("52101004", "SCT", "Present")
ABSENT: Code = ("2667000", "SCT", "Absent")
PROBABILITY_UNIT: Code = ("1", "UCUM", "no units")


class SRItem(NamedTuple):
    """A plain SR content item: numeric (``value`` float, ``unit`` a code) or coded."""

    name: str
    value: float | Code
    unit: Code | None


@dataclass(frozen=True)
class StagePrediction:
    """One model's (or cascade stage target's) output for one knee.

    ``decision`` is None when the cascade did not reach the stage.
    """

    name: str
    description: str
    probability: float
    threshold: float
    decision: bool | None
    model_id: str
    model_version: str
    demonstration: bool


@dataclass
class StudyPrediction:
    """All predictions for one study (one knee)."""

    predictions: list[StagePrediction] = field(default_factory=list)
    study_instance_uid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyPrediction:
        return cls(
            [StagePrediction(**p) for p in data["predictions"]], data.get("study_instance_uid")
        )

    def sr_items(self) -> list[SRItem]:
        """Numeric probabilities and coded decisions, named after the model and target.

        A demonstration model's item names say so.
        """
        items = []
        for p in self.predictions:
            name = f"{p.description} [{p.model_id} {p.model_version}" + (
                ", demonstration]" if p.demonstration else "]"
            )
            items.append(
                SRItem(f"Probability of {name}", round(p.probability, 4), PROBABILITY_UNIT)
            )
            if p.decision is not None:
                items.append(SRItem(name, PRESENT if p.decision else ABSENT, None))
        return items
