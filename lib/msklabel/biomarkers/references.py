"""Published reference ranges of knee biomarkers, shown beside the values on the report.

These are ranges of healthy knees from the literature (docs/quality.md lists the papers);
they tell a reader where a value lies, and are not the quality gate's limits (those are
wider: disease moves values out of the normal range without making them wrong).
"""

from __future__ import annotations

from dataclasses import dataclass

from msklabel.labels import CARTILAGE_PLATES, MENISCI, KneeLabel


@dataclass(frozen=True)
class Reference:
    """A normal range (``low`` = ``high`` for a single published mean) and its source."""

    low: float
    high: float
    source: str  #: short citation, e.g. "Eckstein 2001"
    field_strength_t: float | None = None  #: where the range depends on it

    def text(self) -> str:
        low, high = (f"{v:.0f}" if v >= 100 else f"{v:.3g}" for v in (self.low, self.high))
        return f"~{low}" if self.low == self.high else f"{low}-{high}"


_TIBIOFEMORAL = Reference(1.57, 2.43, "Eckstein 2001")
_CARTILAGE_T2 = Reference(27.0, 45.0, "Pai 2008", 3.0)
_MENISCUS_T2 = Reference(3.6, 19.2, "Rauscher 2008", 3.0)
_JOURNAL = "J Rheumatol 2002"

#: (structure, quantity, derivation) -> reference.
REFERENCES: dict[tuple[int, str, str | None], Reference] = {
    (KneeLabel.FEMORAL_CARTILAGE, "thickness", "mean"): _TIBIOFEMORAL,
    (KneeLabel.MEDIAL_TIBIAL_CARTILAGE, "thickness", "mean"): _TIBIOFEMORAL,
    (KneeLabel.LATERAL_TIBIAL_CARTILAGE, "thickness", "mean"): _TIBIOFEMORAL,
    (KneeLabel.PATELLAR_CARTILAGE, "thickness", "mean"): Reference(2.76, 2.76, "Eckstein 2001"),
    (KneeLabel.MEDIAL_TIBIAL_CARTILAGE, "volume", None): Reference(700.0, 2940.0, _JOURNAL),
    (KneeLabel.LATERAL_TIBIAL_CARTILAGE, "volume", None): Reference(940.0, 3740.0, _JOURNAL),
    **{(plate, "t2", "median"): _CARTILAGE_T2 for plate in CARTILAGE_PLATES},
    **{(meniscus, "t2", "median"): _MENISCUS_T2 for meniscus in MENISCI},
}


def reference(structure: int, quantity: str, derivation: str | None) -> Reference | None:
    """The reference range of a value, or None where msklabel has none."""
    return REFERENCES.get((int(structure), quantity, derivation))
