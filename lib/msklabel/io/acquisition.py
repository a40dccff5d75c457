"""What a series' header says about how it was acquired that judging its measurements needs:
the field strength (which T2 reference applies), the fat-water chemical shift (whether
plates and menisci may be drawn displaced) and which knee it is (which side is medial).
Read once, passed on as one value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydicom.dataset import Dataset

from msklabel.io.chemical_shift import ChemicalShift, chemical_shift
from msklabel.io.dicom import field_strength, series_header
from msklabel.volume import Volume

#: Which knee (or other paired body part) a series shows.
Laterality = Literal["right", "left"]


def laterality(header: Dataset) -> Laterality | None:
    """The side ``header`` names: Image Laterality, else (series) Laterality, ``R`` or ``L``;
    None if neither says (``B``, ``U``, absent, anything else)."""
    for keyword in ("ImageLaterality", "Laterality"):
        value = str(header.get(keyword, "") or "").strip().upper()
        if value in ("R", "L"):
            return "right" if value == "R" else "left"
    return None


@dataclass(frozen=True)
class Acquisition:
    """The acquisition facts of one series; a field is None where the header does not say."""

    field_strength_t: float | None = None  #: MagneticFieldStrength (T)
    chemical_shift: ChemicalShift | None = None
    laterality: Laterality | None = None  #: ImageLaterality, else Laterality

    @classmethod
    def from_header(cls, header: Dataset) -> Acquisition:
        """The facts ``header`` (any image of the series, pixels not needed) gives."""
        return cls(field_strength(header), chemical_shift(header), laterality(header))

    @classmethod
    def of(cls, volume: Volume) -> Acquisition:
        """The facts of ``volume``'s series, from its first source file's header (none for a
        volume without DICOM source files)."""
        return cls.from_header(series_header(volume))


#: Nothing known of the acquisition: the default where no header is at hand.
UNKNOWN_ACQUISITION = Acquisition()
