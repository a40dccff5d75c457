"""The knee network's zoom spread: how much each structure's size changes between the
zooms the slices are segmented at (one of the quality gate's inputs)."""

from __future__ import annotations

import numpy as np

from msklabel.kneeseg.anatomy import knee_labels
from msklabel.kneeseg.automatic import zoom_spread
from msklabel.kneeseg.classes import SegClass
from msklabel.labels import KneeLabel
from msklabel.volume import Volume

REFERENCE = Volume(np.zeros((8, 40, 40), np.float32), np.diag([3.0, 1.0, 1.0, 1.0]))


def _joint(tibial_cartilage_rows: slice = slice(20, 22)) -> np.ndarray:
    """A femur over a tibia on every slice, tibial cartilage on the tibia, a meniscus rim."""
    classes = np.zeros(REFERENCE.shape, np.uint8)
    classes[:, 4:18, 5:35] = SegClass.FEMUR
    classes[:, 22:36, 5:35] = SegClass.TIBIA
    classes[:, tibial_cartilage_rows, 8:32] = SegClass.TIBIAL_CARTILAGE
    classes[:, 19:22, 5:8] = SegClass.MENISCUS
    return classes


def test_zooms_that_agree_spread_nothing() -> None:
    classes = _joint()
    labels, sides = knee_labels(classes, REFERENCE, "right", "given")
    spread = zoom_spread(labels, [classes, classes.copy(), classes.copy()], REFERENCE, sides)
    assert set(spread) == {int(v) for v in np.unique(labels)} - {0}
    assert all(value == 0.0 for value in spread.values())


def test_a_zoom_that_loses_or_thickens_a_structure_spreads_it() -> None:
    classes = _joint()
    labels, sides = knee_labels(classes, REFERENCE, "right", "given")
    lost = classes.copy()
    lost[lost == SegClass.MENISCUS] = SegClass.BACKGROUND
    thick = _joint(slice(19, 22))  # the cartilage 3 rows thick instead of 2
    spread = zoom_spread(labels, [classes, lost, thick], REFERENCE, sides)
    menisci = [
        spread[v] for v in (KneeLabel.MEDIAL_MENISCUS, KneeLabel.LATERAL_MENISCUS) if v in spread
    ]
    assert menisci and all(value == 1.0 for value in menisci)
    for plate in (KneeLabel.MEDIAL_TIBIAL_CARTILAGE, KneeLabel.LATERAL_TIBIAL_CARTILAGE):
        assert 0.3 < spread[plate] <= 0.5
    assert spread[KneeLabel.FEMUR] == 0.0
