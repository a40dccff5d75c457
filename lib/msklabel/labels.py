"""Label sets (knee, lumbar spine, thigh): one integer per structure, shared by every part of
msklabel."""

from __future__ import annotations

from enum import IntEnum


class _KeyedLabel(IntEnum):
    """Label values whose members have a lower-case ``key``."""

    @property
    def key(self) -> str:
        """Lower-case name used in files and configuration, e.g. ``femoral_cartilage``."""
        return self.name.lower()


class KneeLabel(_KeyedLabel):
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


BONES = (KneeLabel.FEMUR, KneeLabel.TIBIA, KneeLabel.PATELLA)
CARTILAGE_PLATES = (
    KneeLabel.FEMORAL_CARTILAGE,
    KneeLabel.MEDIAL_TIBIAL_CARTILAGE,
    KneeLabel.LATERAL_TIBIAL_CARTILAGE,
    KneeLabel.PATELLAR_CARTILAGE,
)
MENISCI = (KneeLabel.MEDIAL_MENISCUS, KneeLabel.LATERAL_MENISCUS)
#: The structures named for a compartment, whose labels swap if the knee's side is wrong.
SIDED = (
    KneeLabel.MEDIAL_TIBIAL_CARTILAGE,
    KneeLabel.LATERAL_TIBIAL_CARTILAGE,
    *MENISCI,
)


class SpineLabel(_KeyedLabel):
    """Label values of lumbar spine label maps (0 is background): vertebral bodies (1-6),
    intervertebral discs (11-15, named by the vertebrae above and below) and the spinal
    canal (20)."""

    L1 = 1
    L2 = 2
    L3 = 3
    L4 = 4
    L5 = 5
    S1 = 6
    L1_L2 = 11
    L2_L3 = 12
    L3_L4 = 13
    L4_L5 = 14
    L5_S1 = 15
    SPINAL_CANAL = 20


#: Each disc -> the vertebral bodies above and below it.
DISC_VERTEBRAE = {
    SpineLabel.L1_L2: (SpineLabel.L1, SpineLabel.L2),
    SpineLabel.L2_L3: (SpineLabel.L2, SpineLabel.L3),
    SpineLabel.L3_L4: (SpineLabel.L3, SpineLabel.L4),
    SpineLabel.L4_L5: (SpineLabel.L4, SpineLabel.L5),
    SpineLabel.L5_S1: (SpineLabel.L5, SpineLabel.S1),
}


class ThighLabel(_KeyedLabel):
    """Label values of thigh label maps (0 is background): the femur (cortex and marrow),
    the muscle groups, and subcutaneous fat."""

    FEMUR = 1
    QUADRICEPS = 2
    HAMSTRINGS = 3
    ADDUCTORS = 4
    SARTORIUS = 5
    GRACILIS = 6
    SUBCUTANEOUS_FAT = 7


THIGH_MUSCLES = (
    ThighLabel.QUADRICEPS,
    ThighLabel.HAMSTRINGS,
    ThighLabel.ADDUCTORS,
    ThighLabel.SARTORIUS,
    ThighLabel.GRACILIS,
)
