"""The T2 fit of a multi-echo series: the one place where its signal model is chosen.

A series whose echo times are the first echoes of one CPMG train (``TE_k = k * spacing``,
three echoes or more: a multi-echo spin echo) carries stimulated echoes wherever the
refocusing angle falls short of 180 deg, and is fitted by the EPG dictionary over every echo
(:mod:`msklabel.biomarkers.epg_t2`). Any other set of echo times is fitted mono-exponentially
(:mod:`msklabel.biomarkers.relaxometry`) over every echo. Asked for explicitly, the
mono-exponential fit of a CPMG train leaves out its first echo, the one without
stimulated-echo pathways (the Osteoarthritis Initiative's practice).

The refocusing angle is fitted per voxel: DICOM's FlipAngle of a spin echo is the
excitation angle (90 deg on the sample), and no standard attribute holds the refocusing one.
A 2D series (MRAcquisitionType "2D", as the sample's) is fitted with the atoms summed over
the slice profile :data:`~msklabel.biomarkers.epg_t2.SLICE_PROFILE_2D`: with one angle per
voxel its T2 reads 12-20 % long. A 3D series, or one whose acquisition type is unknown
(NIfTI input), is fitted with one angle per voxel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from msklabel.biomarkers.epg_t2 import SLICE_PROFILE_2D, cpmg_spacing, fit_epg_t2
from msklabel.biomarkers.relaxometry import RelaxationMap, echo_times, fit_relaxation
from msklabel.volume import Volume

#: What ``fit_t2``'s ``method`` accepts.
T2_METHODS = ("auto", "epg", "mono-exponential")

#: A cartilage or meniscus voxel fitted longer than this (ms) holds fluid: healthy
#: cartilage stays below about 70 ms even in its superficial zone (Dardzinski et al.,
#: Radiology 1997;205:546-550), joint fluid reads hundreds of ms. Such voxels are partial
#: volume with fluid, or a mask that takes the joint space.
FLUID_T2_MS = 100.0


def t2_method(times: Sequence[float]) -> str:
    """ "epg" for the echo times of a CPMG train of three echoes or more, else
    "mono-exponential"."""
    return "epg" if len(times) >= 3 and cpmg_spacing(times) is not None else "mono-exponential"


def fit_t2(
    echoes: Sequence[Volume],
    *,
    times: Sequence[float] | None = None,
    mask: np.ndarray | None = None,
    method: str = "auto",
    noise_sigma: float | None = None,
) -> RelaxationMap:
    """T2 map of ``echoes`` (increasing echo times, by default their ``echo_time``) in
    ``mask``, by ``method`` (one of :data:`T2_METHODS`; "auto": :func:`t2_method`)."""
    if method not in T2_METHODS:
        raise ValueError(f"method must be one of {T2_METHODS}, got {method!r}")
    t = echo_times(echoes, times)
    chosen = t2_method(t) if method == "auto" else method
    if chosen == "epg":
        profile = SLICE_PROFILE_2D if echoes[0].acquisition_type == "2D" else None
        return fit_epg_t2(echoes, times=t, mask=mask, noise_sigma=noise_sigma, profile=profile)
    if len(t) >= 3 and cpmg_spacing(t) is not None:
        echoes, t = echoes[1:], t[1:]
    return fit_relaxation(echoes, times=t, mask=mask, noise_sigma=noise_sigma)
