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

from msklabel.biomarkers.quality import failed_structures

__all__ = ["clinical_biomarkers", "measurement_key", "quality_reasons"]

from msklabel.clinical.features import (
    AGE,
    BIOMARKERS,
    BMI,
    SEX,
    clinical_biomarkers,
    demographics_from_header,
    measurement_key,
)


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
