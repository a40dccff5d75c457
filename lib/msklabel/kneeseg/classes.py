"""What the segmentation network labels: knee structures as one sagittal slice shows them.

Medial and lateral tibial cartilage (and menisci) look alike on a sagittal slice: the
network has one class for each pair, and the side comes from the position across the knee
(:mod:`msklabel.kneeseg.inference`). The fibula is labelled to tell which side is lateral.
"""

from __future__ import annotations

from enum import IntEnum

from msklabel.data.labelmaps import FIBULA_LABEL, MAX_TISSUE
from msklabel.labels import KneeLabel


class SegClass(IntEnum):
    """The network's output channels (0 is everything else)."""

    BACKGROUND = 0
    FEMUR = 1
    TIBIA = 2
    PATELLA = 3
    FIBULA = 4
    FEMORAL_CARTILAGE = 5
    TIBIAL_CARTILAGE = 6
    PATELLAR_CARTILAGE = 7
    MENISCUS = 8


#: Training label value (:class:`KneeLabel`, and the fibula) -> network class; muscle and fat
#: are tissue, not targets.
CLASS_OF_LABEL: dict[int, SegClass] = {
    KneeLabel.FEMUR: SegClass.FEMUR,
    KneeLabel.TIBIA: SegClass.TIBIA,
    KneeLabel.PATELLA: SegClass.PATELLA,
    FIBULA_LABEL: SegClass.FIBULA,
    KneeLabel.FEMORAL_CARTILAGE: SegClass.FEMORAL_CARTILAGE,
    KneeLabel.MEDIAL_TIBIAL_CARTILAGE: SegClass.TIBIAL_CARTILAGE,
    KneeLabel.LATERAL_TIBIAL_CARTILAGE: SegClass.TIBIAL_CARTILAGE,
    KneeLabel.PATELLAR_CARTILAGE: SegClass.PATELLAR_CARTILAGE,
    KneeLabel.MEDIAL_MENISCUS: SegClass.MENISCUS,
    KneeLabel.LATERAL_MENISCUS: SegClass.MENISCUS,
}

#: Classes whose label depends on the side: (medial, lateral).
SIDED: dict[SegClass, tuple[KneeLabel, KneeLabel]] = {
    SegClass.TIBIAL_CARTILAGE: (
        KneeLabel.MEDIAL_TIBIAL_CARTILAGE,
        KneeLabel.LATERAL_TIBIAL_CARTILAGE,
    ),
    SegClass.MENISCUS: (KneeLabel.MEDIAL_MENISCUS, KneeLabel.LATERAL_MENISCUS),
}

#: Classes that are one knee label whatever the side.
UNSIDED: dict[SegClass, KneeLabel] = {
    SegClass.FEMUR: KneeLabel.FEMUR,
    SegClass.TIBIA: KneeLabel.TIBIA,
    SegClass.PATELLA: KneeLabel.PATELLA,
    SegClass.FEMORAL_CARTILAGE: KneeLabel.FEMORAL_CARTILAGE,
    SegClass.PATELLAR_CARTILAGE: KneeLabel.PATELLAR_CARTILAGE,
}

BONE_CLASSES = (SegClass.FEMUR, SegClass.TIBIA, SegClass.PATELLA, SegClass.FIBULA)


def class_lookup() -> list[int]:
    """Network class of every training label value 0..MAX_TISSUE (0 for plain tissue)."""
    lookup = [int(SegClass.BACKGROUND)] * (MAX_TISSUE + 1)
    for label, seg_class in CLASS_OF_LABEL.items():
        lookup[int(label)] = int(seg_class)
    return lookup
