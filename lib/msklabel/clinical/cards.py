"""Model cards: what a model was trained on, how well it did, and what it is for."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NOT_FOR_CLINICAL_USE = (
    "This model is not for clinical use until it has been validated on the site's own "
    "data (its scanners, sequences and population): run `evaluate` on a local labelled "
    "cohort and compare with the metrics below before relying on it."
)
DEMONSTRATION = (
    "DEMONSTRATION MODEL: trained on a synthetic cohort whose effect sizes are rounded "
    "from published Osteoarthritis Initiative figures (see msklabel.clinical.cohort). "
    "It shows the pipeline working; its probabilities say nothing about real patients."
)


@dataclass
class ModelCard:
    """A model card; ``metrics`` maps a name to ``{"value", "low", "high"}`` (95% CI)."""

    name: str
    model_id: str
    version: str
    kind: str
    intended_use: str
    data: str
    evaluation: str
    demonstration: bool
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def caveats(self) -> list[str]:
        return (
            [DEMONSTRATION, NOT_FOR_CLINICAL_USE] if self.demonstration else [NOT_FOR_CLINICAL_USE]
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "caveats": self.caveats}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        return cls(**{k: v for k, v in data.items() if k != "caveats"})

    def to_markdown(self) -> str:
        lines = [f"# Model card: {self.name}", ""]
        lines += [f"> **{caveat}**" + "\n" for caveat in self.caveats]
        lines += [
            f"- Model id: `{self.model_id}`, version {self.version}, kind: {self.kind}",
            "",
            "## Intended use",
            "",
            self.intended_use,
            "",
            "## Data",
            "",
            self.data,
            "",
            "## Evaluation",
            "",
            self.evaluation,
            "",
        ]
        if self.metrics:
            lines += ["| metric | value | 95% CI |", "|---|---|---|"]
            for name, est in self.metrics.items():
                lines.append(
                    f"| {name} | {est['value']:.3f} | {est['low']:.3f}-{est['high']:.3f} |"
                )
            lines.append("")
        if self.details:
            lines += ["## Details", ""]
            lines += [f"- {key}: {value}" for key, value in self.details.items()]
            lines.append("")
        return "\n".join(lines)
