"""The fat-water chemical shift of an MR series: how far fat is drawn from its place along
the readout, from the field strength and the receiver bandwidth per pixel, and whether the
series suppresses fat (read from its DICOM header).

Fat resonates 3.4 ppm (its main methylene peak) below water; over a readout of
``PixelBandwidth`` Hz per pixel that is ``3.4e-6 * 42.577e6 Hz/T * B0 / PixelBandwidth``
pixels (e.g. 0.89 pixel at 3 T and 488 Hz/px, 1.7 pixels at 1.5 T and 130 Hz/px).

Fat suppression is recognised from these header attributes (any one suffices):

* ``ScanOptions`` holding ``FS`` (the DICOM defined term for fat saturation) or a value
  naming a fat-suppression technique (``FAT...``, ``SPAIR``, ``SPIR``, ``STIR``, ``WE``);
* ``ScanningSequence`` with ``IR`` and an ``InversionTime`` of at most 300 ms (STIR: fat's
  null point lies near 150-250 ms at 1.5-3 T);
* ``ImageType`` holding ``WATER`` (a Dixon water image);
* a word of ``SequenceName``, ``SeriesDescription`` or ``ProtocolName`` among ``FS``,
  ``FATSAT``, ``SPAIR``, ``SPIR``, ``STIR``, ``TIRM``, ``WE`` (e.g. ``PD_FS_SAG``).

A header with none of them is taken as not suppressed: ScanOptions ``FS`` is where scanners
record spectral fat saturation, and a series wrongly taken as unsuppressed costs a doubtful
flag, whereas one wrongly taken as suppressed lets a displaced plate pass unflagged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pydicom.dataset import Dataset

#: Fat-water chemical shift (ppm of the main methylene peak) and the proton gyromagnetic
#: ratio (Hz/T).
FAT_SHIFT_PPM = 3.4
GAMMA_HZ_PER_T = 42.577e6
#: Longest inversion time (ms) read as STIR.
STIR_MAX_INVERSION_MS = 300.0

_SCAN_OPTION = re.compile(r"^(FS|FAT.*|SPAIR|SPIR|STIR|WE)$")
_NAME_WORDS = frozenset({"FS", "FATSAT", "SPAIR", "SPIR", "STIR", "TIRM", "WE"})


def fat_shift_pixels(field_t: float, bandwidth_hz_per_pixel: float) -> float:
    """Displacement of fat along the readout, in acquired pixels."""
    return FAT_SHIFT_PPM * 1e-6 * GAMMA_HZ_PER_T * field_t / bandwidth_hz_per_pixel


@dataclass(frozen=True)
class ChemicalShift:
    """The fat-water shift of one series, as its header gives it."""

    pixels: float  #: acquired pixels along the readout
    millimetres: float
    #: In-plane direction of the readout in DICOM terms: ``COL`` (fat moves from row to
    #: row, as when InPlanePhaseEncodingDirection is ROW), ``ROW``, or None if not given.
    readout: str | None
    #: What marked the series as fat-suppressed (e.g. ``ScanOptions FS``); None if nothing.
    fat_suppression: str | None

    def describe(self) -> str:
        """E.g. ``fat shifted 1.67 px (1.04 mm) along the columns (readout)``."""
        where = {"COL": " along the columns", "ROW": " along the rows"}.get(self.readout or "", "")
        return f"fat shifted {self.pixels:.2f} px ({self.millimetres:.2f} mm){where} (readout)"


def chemical_shift(header: Dataset) -> ChemicalShift | None:
    """The chemical shift of the series ``header`` belongs to; None without a positive
    MagneticFieldStrength and PixelBandwidth (or PixelSpacing)."""
    field_t = _positive(header, "MagneticFieldStrength")
    bandwidth = _positive(header, "PixelBandwidth")
    spacing = _numbers(header, "PixelSpacing")
    if field_t is None or bandwidth is None or len(spacing) != 2:
        return None
    pixels = fat_shift_pixels(field_t, bandwidth)
    phase = str(header.get("InPlanePhaseEncodingDirection") or "").strip().upper()
    readout = {"ROW": "COL", "COL": "ROW"}.get(phase)
    # PixelSpacing is (between rows, between columns); a COL readout runs down the rows.
    axis = {"COL": 0, "ROW": 1}.get(readout or "")
    size = float(max(spacing) if axis is None else spacing[axis])
    count = header.get("Rows" if axis != 1 else "Columns")
    acquired = max(_numbers(header, "AcquisitionMatrix")[:2], default=0.0)
    if count and acquired > 0:  # the acquired pixel, where reconstruction interpolated
        size *= float(count) / acquired
    return ChemicalShift(pixels, pixels * size, readout, fat_suppression(header))


def fat_suppression(header: Dataset) -> str | None:
    """What in ``header`` says the series suppresses fat (see the module's list); None if
    nothing does."""
    for option in _words(header.get("ScanOptions")):
        if _SCAN_OPTION.match(option):
            return f"ScanOptions {option}"
    inversion = _positive(header, "InversionTime") or math.inf
    if "IR" in _words(header.get("ScanningSequence")) and inversion <= STIR_MAX_INVERSION_MS:
        return f"inversion recovery, TI {inversion:g} ms (STIR)"
    if "WATER" in _words(header.get("ImageType")):
        return "ImageType WATER"
    for keyword in ("SequenceName", "SeriesDescription", "ProtocolName"):
        found = _NAME_WORDS.intersection(
            re.split(r"[^A-Z0-9]+", str(header.get(keyword) or "").upper())
        )
        if found:
            return f"{keyword} {sorted(found)[0]}"
    return None


def _words(value: object) -> list[str]:
    """A (multi-)valued text attribute as upper-case values."""
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return [str(v).strip().upper() for v in values if str(v).strip()]


def _numbers(header: Dataset, keyword: str) -> list[float]:
    value = header.get(keyword)
    if value in (None, ""):
        return []
    try:
        return [float(v) for v in ([value] if isinstance(value, str | int | float) else value)]
    except (TypeError, ValueError):
        return []


def _positive(header: Dataset, keyword: str) -> float | None:
    values = _numbers(header, keyword)
    return values[0] if len(values) == 1 and values[0] > 0 else None
