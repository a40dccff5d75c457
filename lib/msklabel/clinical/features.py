"""The feature columns of the clinical models, in one place.

A biomarker table has one row per knee and visit. Its columns are:

- ``subject_id`` and ``knee_id`` (knees of one subject are grouped in every split),
  ``visit_month`` (0 at baseline; longitudinal tables only);
- the biomarkers of :data:`BIOMARKERS` (names end in their unit: ``_mm``, ``_mm3``, ``_ms``);
- the demographics ``age_years``, ``sex`` (``"F"`` or ``"M"``) and ``bmi_kg_m2``.

Models see the biomarkers as z-scores against a :class:`ReferenceCohort` of normal
knees (sex-specific mean and SD), plus age, sex (1 = female) and BMI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from msklabel.biomarkers.measurement import DERIVATIONS, UNITS, Measurements

SUBJECT = "subject_id"
KNEE = "knee_id"
VISIT = "visit_month"
AGE = "age_years"
SEX = "sex"
BMI = "bmi_kg_m2"
FEMALE = "female"


@dataclass(frozen=True)
class Biomarker:
    """One biomarker column: its name, unit, joint (or ``None``) and tissue."""

    name: str
    unit: str
    joint: str | None
    tissue: str
    description: str


def _cartilage(plate: str, joint: str, label: str) -> list[Biomarker]:
    return [
        Biomarker(
            f"{plate}_cartilage_thickness_mean_mm", "mm", joint, "cartilage",
            f"mean 3D thickness of the {label} cartilage",
        ),
        Biomarker(
            f"{plate}_cartilage_volume_mm3", "mm3", joint, "cartilage",
            f"volume of the {label} cartilage",
        ),
        Biomarker(
            f"{plate}_cartilage_t2_mean_ms", "ms", joint, "cartilage",
            f"mean T2 of the {label} cartilage",
        ),
    ]  # fmt: skip


#: Every biomarker the models use, grouped by joint and tissue (stage C of the cascade).
BIOMARKERS: tuple[Biomarker, ...] = (
    *_cartilage("femoral", "femur", "femoral"),
    *_cartilage("medial_tibial", "tibia", "medial tibial"),
    *_cartilage("lateral_tibial", "tibia", "lateral tibial"),
    *_cartilage("patellar", "patella", "patellar"),
    Biomarker("medial_meniscus_volume_mm3", "mm3", None, "meniscus", "medial meniscus volume"),
    Biomarker("lateral_meniscus_volume_mm3", "mm3", None, "meniscus", "lateral meniscus volume"),
    Biomarker("femur_volume_mm3", "mm3", "femur", "bone", "femur volume in the field of view"),
    Biomarker("tibia_volume_mm3", "mm3", "tibia", "bone", "tibia volume in the field of view"),
    Biomarker("patella_volume_mm3", "mm3", "patella", "bone", "patella volume"),
)
BIOMARKER_NAMES: tuple[str, ...] = tuple(b.name for b in BIOMARKERS)
DEMOGRAPHICS: tuple[str, ...] = (AGE, FEMALE, BMI)


def target_column(target: str) -> str:
    """The 0/1 column of a triage target (see :data:`msklabel.clinical.triage.TARGET_NAMES`)."""
    return f"target_{target}"


def zscore_name(biomarker: str) -> str:
    """The feature name of a biomarker's z-score."""
    return f"{biomarker}_z"


@dataclass(frozen=True)
class ReferenceCohort:
    """Sex-specific means and SDs of the biomarkers in normal knees.

    The reference comes from knees outside the cohort being modelled (or from the
    training folds only), so z-scoring never leaks outcome information.
    """

    means: Mapping[str, Mapping[str, float]]  # sex -> biomarker -> mean
    sds: Mapping[str, Mapping[str, float]]
    n: Mapping[str, int]

    @classmethod
    def from_table(cls, table: pd.DataFrame, min_per_sex: int = 20) -> ReferenceCohort:
        """Estimate from a table of normal knees (pooled over sex when a sex has few knees)."""
        _require(table, [*BIOMARKER_NAMES, SEX])
        means, sds, counts = {}, {}, {}
        for sex in ("F", "M"):
            rows = table[table[SEX] == sex]
            if len(rows) < min_per_sex:
                rows = table
            values = rows[list(BIOMARKER_NAMES)].astype(float)
            means[sex] = values.mean().to_dict()
            sds[sex] = values.std(ddof=1).to_dict()
            counts[sex] = len(rows)
        return cls(means, sds, counts)

    def zscores(self, table: pd.DataFrame) -> pd.DataFrame:
        """The z-score of every biomarker of every row (columns named by :func:`zscore_name`)."""
        _require(table, [*BIOMARKER_NAMES, SEX])
        sex = table[SEX].to_numpy()
        out = {}
        for name in BIOMARKER_NAMES:
            mean = np.where(sex == "F", self.means["F"][name], self.means["M"][name])
            sd = np.where(sex == "F", self.sds["F"][name], self.sds["M"][name])
            out[zscore_name(name)] = (table[name].to_numpy(float) - mean) / sd
        return pd.DataFrame(out, index=table.index)

    def to_dict(self) -> dict[str, Any]:
        return {"means": self.means, "sds": self.sds, "n": self.n}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceCohort:
        return cls(data["means"], data["sds"], data["n"])


def feature_matrix(table: pd.DataFrame, reference: ReferenceCohort) -> pd.DataFrame:
    """Biomarker z-scores plus age, female (0/1) and BMI: the triage features."""
    _require(table, [AGE, SEX, BMI])
    features = reference.zscores(table)
    features[AGE] = table[AGE].astype(float)
    features[FEMALE] = (table[SEX] == "F").astype(float)
    features[BMI] = table[BMI].astype(float)
    return features


def feature_names() -> list[str]:
    """The columns of :func:`feature_matrix`, in order."""
    return [*(zscore_name(n) for n in BIOMARKER_NAMES), *DEMOGRAPHICS]


def history_features(
    table: pd.DataFrame, reference: ReferenceCohort, landmark_month: float
) -> pd.DataFrame:
    """Per-knee features from the visits up to a landmark.

    One row per knee with a visit at or before the landmark: the features of its
    latest such visit, the change per year of every biomarker z-score since its
    first visit (0 with a single visit), the number of visits and the landmark.
    """
    _require(table, [SUBJECT, KNEE, VISIT])
    past = table[table[VISIT] <= landmark_month].sort_values([KNEE, VISIT])
    if past.empty:
        return pd.DataFrame(columns=[SUBJECT, KNEE, *history_feature_names()])
    z = feature_matrix(past, reference)
    z[KNEE] = past[KNEE].to_numpy()
    z[VISIT] = past[VISIT].to_numpy(float)
    knees = z.groupby(KNEE, sort=False)
    first, last = knees.head(1).set_index(KNEE), knees.tail(1).set_index(KNEE)
    years = (last[VISIT] - first[VISIT]).to_numpy() / 12.0
    out = last[feature_names()].copy()
    for name in BIOMARKER_NAMES:
        column = zscore_name(name)
        delta = (last[column] - first[column]).to_numpy()
        out[f"{column}_per_year"] = np.divide(
            delta, years, out=np.zeros_like(delta), where=years > 0
        )
    out["n_visits"] = knees.size().to_numpy(float)
    out["landmark_month"] = float(landmark_month)
    out.insert(0, SUBJECT, past.groupby(KNEE, sort=False)[SUBJECT].first())
    return out.reset_index()


def history_feature_names() -> list[str]:
    """The model columns of :func:`history_features`, in order."""
    slopes = [f"{zscore_name(n)}_per_year" for n in BIOMARKER_NAMES]
    return [*feature_names(), *slopes, "n_visits", "landmark_month"]


_AGE = re.compile(r"^(\d{1,3})([DWMY])$")
_AGE_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def demographics_from_header(header: Any) -> dict[str, Any]:
    """Age (years), sex (``"F"``/``"M"``) and BMI from a DICOM dataset or mapping.

    Reads PatientAge (e.g. ``"061Y"``), PatientSex, PatientWeight (kg) and
    PatientSize (m); a value that is missing or unusable is left out.
    """

    def get(keyword: str) -> Any:
        value = (
            header.get(keyword) if isinstance(header, Mapping) else getattr(header, keyword, None)
        )
        return None if value in (None, "") else value

    out: dict[str, Any] = {}
    age = get("PatientAge")
    if age is not None and (match := _AGE.match(str(age).strip().upper())):
        out[AGE] = int(match.group(1)) * _AGE_UNIT_YEARS[match.group(2)]
    sex = get("PatientSex")
    if sex is not None and str(sex).strip().upper() in ("F", "M"):
        out[SEX] = str(sex).strip().upper()
    weight, size = get("PatientWeight"), get("PatientSize")
    if weight is not None and size is not None and float(size) > 0 and float(weight) > 0:
        out[BMI] = float(weight) / float(size) ** 2
    return out


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


def study_row(
    biomarkers: Mapping[str, Any],
    demographics: Mapping[str, Any] | None = None,
    header: Any = None,
) -> pd.DataFrame:
    """A one-row table for one study.

    ``biomarkers`` is either a flat ``{name: value}`` mapping or the biomarkers JSON
    that ``msklabel measure`` writes (read by :meth:`Measurements.from_json`); the
    demographics come from the DICOM ``header`` when it has them, else from
    ``demographics`` (or the biomarkers mapping itself).
    """
    if "measurements" in biomarkers:
        values = {**biomarkers, **clinical_biomarkers(Measurements.from_json(biomarkers))[0]}
    else:
        values = dict(biomarkers)
    row = {**{k: values[k] for k in (AGE, SEX, BMI) if k in values}, **(demographics or {})}
    if header is not None:
        row.update(demographics_from_header(header))
    row.update({name: values.get(name, np.nan) for name in BIOMARKER_NAMES})
    missing = [name for name in (*BIOMARKER_NAMES, AGE, SEX, BMI) if pd.isna(row.get(name))]
    if missing:
        raise ValueError(f"the study lacks {', '.join(missing)}")
    return pd.DataFrame([row])


def _require(table: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise KeyError(f"the table lacks the columns {', '.join(missing)}")
