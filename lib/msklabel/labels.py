"""The knee label set: one integer per structure, shared by every part of msklabel."""

from __future__ import annotations

from enum import IntEnum


class KneeLabel(IntEnum):
    """Label values of knee label maps (0 is background)."""

    FEMUR = 1
    TIBIA = 2
    PATELLA = 3
    FEMORAL_CARTILAGE = 4
    MEDIAL_TIBIAL_CARTILAGE = 5
    LATERAL_TIBIAL_CARTILAGE = 6
    PATELLAR_CARTILAGE = 7
    MEDIAL_MENISCUS = 8
    LATERAL_MENISCUS = 9
    MUSCLE = 10
    FAT = 11

    @property
    def key(self) -> str:
        """Lower-case name used in files and configuration, e.g. ``femoral_cartilage``."""
        return self.name.lower()


BONES = (KneeLabel.FEMUR, KneeLabel.TIBIA, KneeLabel.PATELLA)
CARTILAGE_PLATES = (
    KneeLabel.FEMORAL_CARTILAGE,
    KneeLabel.MEDIAL_TIBIAL_CARTILAGE,
    KneeLabel.LATERAL_TIBIAL_CARTILAGE,
    KneeLabel.PATELLAR_CARTILAGE,
)
MENISCI = (KneeLabel.MEDIAL_MENISCUS, KneeLabel.LATERAL_MENISCUS)
