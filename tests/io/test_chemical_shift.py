"""The fat-water chemical shift read from MR headers: its size in pixels and millimetres, the
readout direction, and fat suppression."""

from __future__ import annotations

import pytest

from msklabel.data.simulation import PRESETS
from msklabel.io.chemical_shift import chemical_shift, fat_shift_pixels
from msklabel.testing.headers import SAMPLE_READOUT as SAMPLE
from msklabel.testing.headers import mr_header


def test_the_sample_header_gives_0_89_pixel_down_the_columns() -> None:
    shift = chemical_shift(mr_header(**SAMPLE))
    assert shift is not None
    assert shift.pixels == pytest.approx(0.889, abs=0.002)
    assert shift.millimetres == pytest.approx(0.556, abs=0.002)
    assert shift.readout == "COL"  # phase encoding along the rows
    assert shift.fat_suppression is None  # FAST_GEMS is not fat saturation
    assert shift.describe() == "fat shifted 0.89 px (0.56 mm) along the columns (readout)"


def test_the_simulation_uses_the_same_formula() -> None:
    assert PRESETS["clinical-1.5t"].fat_shift == pytest.approx(fat_shift_pixels(1.5, 130.0))
    assert fat_shift_pixels(1.5, 130.0) == pytest.approx(1.67, abs=0.01)
    assert fat_shift_pixels(3.0, 250.0) == pytest.approx(1.74, abs=0.01)


def test_interpolated_reconstruction_counts_acquired_pixels() -> None:
    """512 reconstructed pixels of 0.3125 mm from 256 acquired: the shift in millimetres is
    the acquired pixel's; a ROW readout uses the column spacing."""
    shift = chemical_shift(
        mr_header(
            **{
                **SAMPLE,
                "Rows": 512,
                "Columns": 512,
                "PixelSpacing": [0.3125, 0.3125],
                "InPlanePhaseEncodingDirection": "COL",
                "AcquisitionMatrix": [256, 0, 0, 256],
            }
        )
    )
    assert shift is not None and shift.readout == "ROW"
    assert shift.millimetres == pytest.approx(0.556, abs=0.002)


@pytest.mark.parametrize(
    ("attributes", "found"),
    [
        ({"ScanOptions": ["FS", "PFP"]}, "ScanOptions FS"),
        ({"ScanOptions": "SPAIR"}, "ScanOptions SPAIR"),
        ({"ScanningSequence": ["SE", "IR"], "InversionTime": "160"}, "STIR"),
        ({"ImageType": ["DERIVED", "PRIMARY", "DIXON", "WATER"]}, "ImageType WATER"),
        ({"SeriesDescription": "PD_FS_SAG"}, "SeriesDescription FS"),
        ({"SequenceName": "*tir2d1_15"}, None),  # not a word of the list
        ({"ScanningSequence": ["SE", "IR"], "InversionTime": "2500"}, None),  # FLAIR-like
        ({"SeriesDescription": "T2 MAP SAG"}, None),
    ],
)
def test_fat_suppression_is_read_from_the_header(attributes: dict, found: str | None) -> None:
    shift = chemical_shift(mr_header(**{**SAMPLE, **attributes}))
    assert shift is not None
    if found is None:
        assert shift.fat_suppression is None
    else:
        assert shift.fat_suppression is not None and found in shift.fat_suppression


@pytest.mark.parametrize("missing", ["PixelBandwidth", "MagneticFieldStrength", "PixelSpacing"])
def test_no_shift_without_bandwidth_field_or_spacing(missing: str) -> None:
    assert chemical_shift(mr_header(**{**SAMPLE, missing: None})) is None
    assert chemical_shift(mr_header(**{**SAMPLE, missing: ""})) is None
