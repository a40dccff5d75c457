"""Read images as :class:`~msklabel.volume.Volume`: DICOM series (folders or files) and NIfTI.

A path ending in ``.nii`` or ``.nii.gz`` is read as NIfTI; anything else (a folder, a file,
several of them) goes to the DICOM reader, whose file policy :mod:`msklabel.io.dicom`
documents.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import NamedTuple

from msklabel.errors import InputError
from msklabel.io.dicom import (
    DicomSeries,
    DicomSource,
    InvalidPolicy,
    scan_dicom_series,
    source_name,
)
from msklabel.io.nifti import read_nifti
from msklabel.volume import Volume

__all__ = ["echo_at", "read_echoes", "read_volume", "read_volumes"]

#: Echo times closer than this (ms) are the same echo time.
_ECHO_TIME_TOLERANCE_MS = 1e-3


class _Candidate(NamedTuple):
    """One volume found in the input, described before its pixels are decoded."""

    series_instance_uid: str | None
    series_description: str | None
    echo_time: float | None
    slice_count: int
    load: Callable[[], Volume]

    def describe(self) -> str:
        echo = "no echo time" if self.echo_time is None else f"echo time {self.echo_time:g} ms"
        return (
            f"series {self.series_instance_uid or '(none)'} "
            f"'{self.series_description or ''}', {echo}, {self.slice_count} slices"
        )


def read_volumes(
    path_or_paths: DicomSource, *, on_invalid: InvalidPolicy = "error"
) -> list[Volume]:
    """Read every volume in the input: one per NIfTI file and one per DICOM (series, echo)."""
    return [candidate.load() for candidate in _candidates(path_or_paths, on_invalid)]


def read_volume(
    path_or_paths: DicomSource,
    *,
    series_instance_uid: str | None = None,
    echo_time: float | None = None,
    on_invalid: InvalidPolicy = "error",
) -> Volume:
    """Read the one volume of the input that matches the given Series Instance UID / echo time.

    Raises :class:`InputError` listing what was found unless exactly one volume matches.
    Only the selected DICOM series has its pixels decoded.
    """
    candidates = _candidates(path_or_paths, on_invalid)
    selected = [
        candidate
        for candidate in candidates
        if series_instance_uid in (None, candidate.series_instance_uid)
        and (echo_time is None or _same_echo_time(candidate.echo_time, echo_time))
    ]
    if len(selected) == 1:
        return selected[0].load()
    criteria = f"series_instance_uid={series_instance_uid!r}, echo_time={echo_time!r}"
    found = "; ".join(candidate.describe() for candidate in candidates)
    problem = "no volume matches" if not selected else f"{len(selected)} volumes match"
    raise InputError(source_name(path_or_paths), f"{problem} {criteria}; found: {found}")


def read_echoes(source: DicomSource, series_uid: str | None = None) -> list[Volume]:
    """The echoes of the one series in ``source`` (or of ``series_uid``), by echo time, all on
    one grid; :class:`InputError` if there are several series, none, or grids differ. The
    one echo reader of msklabel: ``source`` is what :func:`read_volumes` reads (NIfTI files
    without a Series Instance UID count as one series)."""
    candidates = _candidates(source, "error")
    found = sorted({str(c.series_instance_uid) for c in candidates})
    chosen = [c for c in candidates if series_uid in (None, c.series_instance_uid)]
    if not chosen or len({c.series_instance_uid for c in chosen}) > 1:
        problem = (
            "several series (choose one by its Series Instance UID)"
            if chosen
            else f"no series {series_uid}"
        )
        raise InputError(source_name(source), f"{problem}; found: {', '.join(found) or 'none'}")
    echoes = sorted((c.load() for c in chosen), key=lambda v: v.echo_time or 0.0)
    first = echoes[0]
    for echo in echoes[1:]:
        problem = first.grid_mismatch(echo)
        if problem is not None:
            raise InputError(source_name(source), f"the echoes do not share one grid: {problem}")
    return echoes


def echo_at(echoes: Sequence[Volume], echo_time: float) -> Volume | None:
    """The echo of ``echoes`` at ``echo_time`` ms (within the one echo-time tolerance), or None."""
    return next((echo for echo in echoes if _same_echo_time(echo.echo_time, echo_time)), None)


def _candidates(path_or_paths: DicomSource, on_invalid: InvalidPolicy) -> list[_Candidate]:
    """NIfTI volumes (read now) followed by the DICOM groups (headers only) of the input."""
    if isinstance(path_or_paths, (str, os.PathLike)):
        if _is_nifti(path_or_paths):
            return [_from_volume(read_nifti(path_or_paths))]
        return _dicom_candidates(path_or_paths, on_invalid)
    nifti = [path for path in path_or_paths if _is_nifti(path)]
    dicom = [path for path in path_or_paths if not _is_nifti(path)]
    candidates = [_from_volume(read_nifti(path)) for path in nifti]
    if dicom or not nifti:  # an empty list goes to the DICOM reader, which reports it
        candidates += _dicom_candidates(dicom, on_invalid)
    return candidates


def _dicom_candidates(source: DicomSource, on_invalid: InvalidPolicy) -> list[_Candidate]:
    return [_from_series(series) for series in scan_dicom_series(source, on_invalid=on_invalid)]


def _is_nifti(path: str | os.PathLike[str]) -> bool:
    return os.fspath(path).lower().endswith((".nii", ".nii.gz"))


def _from_volume(volume: Volume) -> _Candidate:
    return _Candidate(
        volume.series_instance_uid,
        volume.series_description,
        volume.echo_time,
        volume.shape[0],
        lambda: volume,
    )


def _from_series(series: DicomSeries) -> _Candidate:
    return _Candidate(
        series.series_instance_uid,
        series.series_description,
        series.echo_time,
        series.slice_count,
        series.load,
    )


def _same_echo_time(found: float | None, wanted: float) -> bool:
    return found is not None and math.isclose(found, wanted, abs_tol=_ECHO_TIME_TOLERANCE_MS)
