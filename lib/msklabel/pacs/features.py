"""From measured biomarkers and a DICOM header to the inputs of the clinical models.

:data:`msklabel.clinical.features.BIOMARKER_NAMES` are named
``<structure>_<quantity>[_<statistic>]_<unit>``, e.g. ``femoral_cartilage_thickness_mean_mm``
is the whole-plate mean thickness of the ``femoral_cartilage`` structure that ``msklabel
measure`` reports. Demographics come only from the header (PatientAge, PatientSex,
PatientSize, PatientWeight): a missing one is reported with its reason, never invented.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msklabel.biomarkers.measurement import DERIVATIONS, UNITS, Measurements
from msklabel.biomarkers.quality import failed_structures
from msklabel.clinical.features import (
    AGE,
    BIOMARKERS,
    BMI,
    SEX,
    Biomarker,
    demographics_from_header,
)


def measurement_key(biomarker: Biomarker) -> tuple[str, str, str | None]:
    """The (structure, quantity, statistic) of ``msklabel measure`` that ``biomarker`` is."""
    stem = biomarker.name.removesuffix(f"_{biomarker.unit}")
    derivation = next((d for d in DERIVATIONS if stem.endswith(f"_{d}")), None)
    if derivation is not None:
        stem = stem.removesuffix(f"_{derivation}")
    quantity = next((q for q in UNITS if stem.endswith(f"_{q}")), None)
    if quantity is None:
        raise ValueError(f"cannot map clinical feature {biomarker.name!r} to a measurement")
    return stem.removesuffix(f"_{quantity}"), quantity, derivation


def clinical_biomarkers(measurements: Measurements) -> tuple[dict[str, float], list[str]]:
    """The clinical models' biomarkers found in ``measurements``, and the names missing."""
    values, missing = {}, []
    for biomarker in BIOMARKERS:
        try:
            values[biomarker.name] = measurements.get(*measurement_key(biomarker))
        except KeyError:
            missing.append(biomarker.name)
    return values, missing


def quality_reasons(biomarkers: Mapping[str, Any]) -> list[str]:
    """Why the models must not run on a biomarkers.json mapping: one reason per structure
    they use that failed the quality gate (empty if none did, or the file has no verdicts)."""
    used = {measurement_key(biomarker)[0] for biomarker in BIOMARKERS}
    return [
        f"quality gate failed {key}: {'; '.join(messages)}"
        for key, messages in failed_structures(biomarkers).items()
        if key in used
    ]


def header_demographics(header: Any) -> tuple[dict[str, Any], list[str]]:
    """Age, sex and BMI from a DICOM header, and why each missing one is missing (the
    reasons name attributes, never their values)."""
    found = demographics_from_header(header)

    def state(keyword: str, given: str = "unusable") -> str:
        got = header.get(keyword) if isinstance(header, Mapping) else getattr(header, keyword, None)
        return "absent" if got in (None, "") else given

    reasons = {
        AGE: f"PatientAge {state('PatientAge')} (an age string like 061Y is needed)",
        SEX: f"PatientSex {state('PatientSex')} (F or M is needed)",
        BMI: f"PatientWeight {state('PatientWeight', 'given')}, PatientSize "
        f"{state('PatientSize', 'given')} (both, positive, are needed for the BMI)",
    }
    return found, [reason for key, reason in reasons.items() if key not in found]
