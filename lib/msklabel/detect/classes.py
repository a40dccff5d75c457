"""What the detector detects: knee structures as they look on one sagittal slice.

Medial and lateral tibial cartilage (and menisci) look alike on a sagittal slice, so the
detector has one class for each pair; :mod:`msklabel.detect.consistency` names the side from
the slice's position. The fibula is detected only to tell which side of the knee is lateral.
"""

from __future__ import annotations

from enum import IntEnum

from msklabel.data.labelmaps import FIBULA_LABEL
from msklabel.labels import KneeLabel


class DetectorClass(IntEnum):
    """The detector's output channels."""

    FEMUR = 0
    TIBIA = 1
    PATELLA = 2
    FEMORAL_CARTILAGE = 3
    TIBIAL_CARTILAGE = 4
    PATELLAR_CARTILAGE = 5
    MENISCUS = 6
    FIBULA = 7


#: Training label value -> detector class (muscle and fat are tissue, not targets).
CLASS_OF_LABEL: dict[int, DetectorClass] = {
    KneeLabel.FEMUR: DetectorClass.FEMUR,
    KneeLabel.TIBIA: DetectorClass.TIBIA,
    KneeLabel.PATELLA: DetectorClass.PATELLA,
    KneeLabel.FEMORAL_CARTILAGE: DetectorClass.FEMORAL_CARTILAGE,
    KneeLabel.MEDIAL_TIBIAL_CARTILAGE: DetectorClass.TIBIAL_CARTILAGE,
    KneeLabel.LATERAL_TIBIAL_CARTILAGE: DetectorClass.TIBIAL_CARTILAGE,
    KneeLabel.PATELLAR_CARTILAGE: DetectorClass.PATELLAR_CARTILAGE,
    KneeLabel.MEDIAL_MENISCUS: DetectorClass.MENISCUS,
    KneeLabel.LATERAL_MENISCUS: DetectorClass.MENISCUS,
    FIBULA_LABEL: DetectorClass.FIBULA,
}

#: Detector classes whose label depends on the side: (medial label, lateral label).
SIDED: dict[DetectorClass, tuple[KneeLabel, KneeLabel]] = {
    DetectorClass.TIBIAL_CARTILAGE: (
        KneeLabel.MEDIAL_TIBIAL_CARTILAGE,
        KneeLabel.LATERAL_TIBIAL_CARTILAGE,
    ),
    DetectorClass.MENISCUS: (KneeLabel.MEDIAL_MENISCUS, KneeLabel.LATERAL_MENISCUS),
}

#: Detector classes that are a single knee label.
UNSIDED: dict[DetectorClass, KneeLabel] = {
    DetectorClass.FEMUR: KneeLabel.FEMUR,
    DetectorClass.TIBIA: KneeLabel.TIBIA,
    DetectorClass.PATELLA: KneeLabel.PATELLA,
    DetectorClass.FEMORAL_CARTILAGE: KneeLabel.FEMORAL_CARTILAGE,
    DetectorClass.PATELLAR_CARTILAGE: KneeLabel.PATELLAR_CARTILAGE,
}

#: The knee labels segmented automatically (every structure the detector can name).
AUTOMATIC_LABELS: tuple[KneeLabel, ...] = tuple(
    label for label in KneeLabel if label in CLASS_OF_LABEL
)
