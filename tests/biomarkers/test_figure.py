"""Key slices of the report figure."""

from __future__ import annotations

import numpy as np

from msklabel.biomarkers.figure import key_slices
from msklabel.labels import KneeLabel
from msklabel.volume import Volume


def _labels(array: np.ndarray) -> Volume:
    return Volume(array=array, affine=np.eye(4))


def test_key_slices_show_every_structure() -> None:
    array = np.zeros((12, 8, 8), dtype=np.uint8)
    array[1:4, 0:2, 0:2] = KneeLabel.PATELLA  # only on slices 1-3
    array[5:8, 2:4, 2:4] = KneeLabel.FEMORAL_CARTILAGE  # the cartilage-rich middle
    array[6, 4:6, 4:6] = KneeLabel.FEMUR
    array[10, 6:8, 6:8] = KneeLabel.TIBIA  # a single slice at the far end
    array[:, 7, 0] = KneeLabel.FAT  # hidden label: never a reason to pick a slice

    chosen = key_slices(_labels(array))

    shown = {int(v) for k in chosen for v in np.unique(array[k])} - {0, int(KneeLabel.FAT)}
    assert shown == {KneeLabel.PATELLA, KneeLabel.FEMORAL_CARTILAGE, KneeLabel.FEMUR,
                     KneeLabel.TIBIA}  # fmt: skip
    assert chosen == sorted(chosen)
    assert 6 in chosen  # femur and cartilage together


def test_key_slices_spread_once_all_structures_are_shown() -> None:
    array = np.zeros((20, 4, 4), dtype=np.uint8)
    array[2:18, 1:3, 1:3] = KneeLabel.FEMUR

    chosen = key_slices(_labels(array), count=3)

    assert len(chosen) == 3
    assert chosen[0] >= 2 and chosen[-1] <= 17
    assert min(np.diff(chosen)) >= 5  # spread over the stack, not bunched


def test_key_slices_of_an_empty_label_map() -> None:
    assert key_slices(_labels(np.zeros((5, 4, 4), dtype=np.uint8))) == []
