"""One clinical model's output for a study, as the SR and the report carry it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelResult:
    """One clinical model's output for the study (a triage stage, a 48-month risk).

    ``key`` identifies the output (e.g. ``triage_A_any``); ``finding`` says what was predicted
    in at most 64 characters (it becomes a Code Meaning); ``decision`` is None where the model
    made none (e.g. a cascade stage not reached).
    """

    key: str
    finding: str
    algorithm_name: str
    algorithm_version: str
    probability: float
    threshold: float | None = None
    decision: bool | None = None
    demonstration: bool = False  #: trained on synthetic data: "not for clinical use"

    def __post_init__(self) -> None:
        if not self.key or len(self.finding) > 64 or not self.finding:
            raise ValueError(f"model result {self.key!r}: finding must have 1 to 64 characters")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(
                f"model result {self.key!r}: probability {self.probability} not in [0, 1]"
            )
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"model result {self.key!r}: threshold {self.threshold} not in [0, 1]")
