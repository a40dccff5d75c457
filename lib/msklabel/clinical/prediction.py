"""One study's clinical predictions: typed, JSON-serialisable, ready for the SR.

:meth:`StudyPrediction.model_results` turns the prediction into the
:class:`~msklabel.clinical.result.ModelResult` groups that the TID 1500 SR writer stores.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from msklabel.clinical.result import ModelResult


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

    def model_results(self) -> list[ModelResult]:
        """The predictions as SR model results; a demonstration model's name says so, and
        its result is marked as such ("not for clinical use" in the SR and on the report)."""
        return [
            ModelResult(
                key=p.name,
                finding=p.description,
                algorithm_name=p.model_id + (" (demonstration)" if p.demonstration else ""),
                algorithm_version=p.model_version,
                probability=p.probability,
                threshold=p.threshold,
                decision=p.decision,
                demonstration=p.demonstration,
            )
            for p in self.predictions
        ]
