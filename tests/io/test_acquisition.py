"""The acquisition facts the quality gate judges by, read once from a series' header."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.data.sample import fetch_sample
from msklabel.io import read_volumes
from msklabel.io.acquisition import Acquisition
from msklabel.testing.headers import SAMPLE_READOUT, mr_header
from msklabel.volume import Volume


def test_the_real_sample_series_is_3t_with_a_0_89_pixel_shift() -> None:
    acquisition = Acquisition.of(read_volumes(fetch_sample().dicom_dir)[0])
    assert acquisition.field_strength_t == 3.0
    assert acquisition.chemical_shift is not None
    assert acquisition.chemical_shift.pixels == pytest.approx(0.889, abs=0.002)


def test_a_header_without_field_or_bandwidth_gives_neither() -> None:
    bare = {**SAMPLE_READOUT, "MagneticFieldStrength": None, "PixelBandwidth": None}
    assert Acquisition.from_header(mr_header(**bare)) == Acquisition()
    assert Acquisition.from_header(mr_header(**{**bare, "MagneticFieldStrength": "1.5"})) == (
        Acquisition(1.5)
    )


def test_a_volume_without_dicom_files_says_nothing() -> None:
    volume = Volume(np.zeros((2, 3, 4), np.float32), np.eye(4))
    assert Acquisition.of(volume) == Acquisition()


@pytest.mark.parametrize(
    ("attributes", "side"),
    [
        ({"Laterality": "L"}, "left"),
        ({"Laterality": "R "}, "right"),
        ({"ImageLaterality": "R", "Laterality": "L"}, "right"),  # the image's own first
        ({"ImageLaterality": "B"}, None),
        ({"Laterality": "U"}, None),
        ({"Laterality": "LEFT"}, None),  # not a defined term: not guessed at
        ({}, None),
    ],
)
def test_the_side_is_read_from_image_laterality_then_laterality(attributes, side) -> None:
    header = mr_header(**SAMPLE_READOUT, **attributes)
    assert Acquisition.from_header(header).laterality == side
