"""Attribute fixes shared by every DICOM object msklabel derives from a source series."""

from __future__ import annotations

from pydicom.dataset import Dataset

#: Dates before this year are anonymisation placeholders (e.g. ``00010101``), not dates.
_FIRST_PLAUSIBLE_YEAR = 1900


def blank_placeholder_dates(dataset: Dataset) -> None:
    """Empty the top-level DA values that anonymisers set to placeholders like 00010101.

    Derived objects copy patient and study dates from the source images; validators
    (dciodvfy) reject such placeholders. The copied attributes are Type 2, so an empty
    value is valid and states that the date is unknown.
    """
    for element in dataset:
        if element.VR == "DA" and element.value:
            text = str(element.value)
            if not text[:4].isdigit() or int(text[:4]) < _FIRST_PLAUSIBLE_YEAR:
                element.value = ""
