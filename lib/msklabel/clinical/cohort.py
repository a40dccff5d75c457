"""Synthetic knee cohorts with a known generating model.

OAI data cannot ship, so the demonstration models and the tests train on cohorts
drawn here. Every knee has a latent degeneration score; biomarkers, findings and
outcomes follow from it through the parameters below. The parameters are rounded
to the order of magnitude of published Osteoarthritis Initiative (OAI) figures;
they make the synthetic data plausible, they do not reproduce any study:

- Demographics: OAI enrolled 4,796 people aged 45-79, about 58% women, mean BMI
  about 28.6 kg/m² (Nevitt MC, Felson DT, Lester G. The Osteoarthritis Initiative:
  protocol for the cohort study. 2006).
- Sex: women have thinner cartilage and clearly smaller cartilage volumes and joint
  surfaces than men (Faber SC et al. Gender differences in knee joint cartilage
  thickness, volume and articular surface areas. Skeletal Radiol 2001;30:144-150);
  we use 0.9x thickness and 0.75x volumes.
- Cartilage loss: femorotibial thickness changes by a fraction of a percent per
  year in normal knees and faster with higher Kellgren-Lawrence grade (Eckstein F
  et al. Arthritis Care Res 2011;63:311-319); our latent score drifts faster in
  heavier and already degenerated knees.
- T2: cartilage T2 is higher in knees that go on to degenerate and to incident
  radiographic OA (Joseph GB et al. Osteoarthritis Cartilage 2012;20:727-735;
  Liebl H et al. Ann Rheum Dis 2015;74:1353-1359); T2 rises with the latent score.
- Risk factors: obesity and female sex raise the risk of knee OA onset (Blagojevic M
  et al. Osteoarthritis Cartilage 2010;18:24-33).
- Incident OA: among OAI knees free of radiographic OA, 7-12% progressed by two or
  more KL grades within 4 years (Driban JB et al. Ther Adv Musculoskelet Dis
  2016;8:165-171); we aim at roughly 15% incident KL >= 2 within 48 months.
- Knee replacement: 119 OAI knees were replaced between the 36- and 60-month visits
  (Eckstein F et al. Eur Radiol 2016;26:1942-1951), about 1% of the cohort's knees
  in two years; we aim at roughly 2-3% of knees within 48 months.

Reference values (male means, SDs) are typical of 3T knee MRI; bone volumes depend
on the field of view and are arbitrary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .features import AGE, BIOMARKERS, BMI, KNEE, SEX, SUBJECT, VISIT, target_column

#: Biomarker -> (male mean, male SD); women get the :data:`FEMALE_FACTOR` of the unit.
REFERENCE_VALUES: dict[str, tuple[float, float]] = {
    "femoral_cartilage_thickness_mean_mm": (2.1, 0.25),
    "femoral_cartilage_volume_mm3": (9000.0, 1300.0),
    "femoral_cartilage_t2_mean_ms": (36.0, 2.5),
    "medial_tibial_cartilage_thickness_mean_mm": (1.8, 0.25),
    "medial_tibial_cartilage_volume_mm3": (1700.0, 280.0),
    "medial_tibial_cartilage_t2_mean_ms": (32.0, 2.5),
    "lateral_tibial_cartilage_thickness_mean_mm": (2.3, 0.3),
    "lateral_tibial_cartilage_volume_mm3": (2200.0, 330.0),
    "lateral_tibial_cartilage_t2_mean_ms": (31.0, 2.5),
    "patellar_cartilage_thickness_mean_mm": (2.5, 0.35),
    "patellar_cartilage_volume_mm3": (3000.0, 550.0),
    "patellar_cartilage_t2_mean_ms": (33.0, 3.0),
    "medial_meniscus_volume_mm3": (2400.0, 380.0),
    "lateral_meniscus_volume_mm3": (2000.0, 330.0),
    "femur_volume_mm3": (110000.0, 14000.0),
    "tibia_volume_mm3": (85000.0, 11000.0),
    "patella_volume_mm3": (11000.0, 1800.0),
}
FEMALE_FACTOR = {"mm": 0.9, "mm3": 0.75, "ms": 1.0}

#: How a biomarker's z-score moves per unit of its joint-tissue latent score.
_LOADING = {"thickness": -0.8, "volume": -0.7, "t2": 0.6, "meniscus": -0.6, "bone": 0.5}

#: A finding's model: intercept and weights on the generator's z-scores, centred age (per
#: year) and centred BMI (per kg/m²) of the finding's logit.
Finding = tuple[float, dict[str, float]]
Findings = dict[str, Finding]

#: Findings (radiologist reads), by name.
FINDINGS: Findings = {
    "cartilage_femur": (-2.6, {
        "femoral_cartilage_thickness_mean_mm": -0.9,
        "femoral_cartilage_volume_mm3": -0.3,
        "femoral_cartilage_t2_mean_ms": 0.7,
    }),
    "cartilage_tibia": (-2.6, {
        "medial_tibial_cartilage_thickness_mean_mm": -0.6,
        "lateral_tibial_cartilage_thickness_mean_mm": -0.5,
        "medial_tibial_cartilage_t2_mean_ms": 0.4,
        "lateral_tibial_cartilage_t2_mean_ms": 0.3,
    }),
    "cartilage_patella": (-2.8, {
        "patellar_cartilage_thickness_mean_mm": -0.9,
        "patellar_cartilage_t2_mean_ms": 0.7,
    }),
    "meniscus": (-2.5, {
        "medial_meniscus_volume_mm3": -0.8,
        "lateral_meniscus_volume_mm3": -0.5,
        AGE: 0.02,
    }),
    "bone_femur": (-3.0, {"femur_volume_mm3": 0.9, "femoral_cartilage_thickness_mean_mm": -0.3}),
    "bone_tibia": (-3.0, {
        "tibia_volume_mm3": 0.9, "medial_tibial_cartilage_thickness_mean_mm": -0.3,
    }),
    "bone_patella": (-3.2, {"patella_volume_mm3": 0.9}),
    "other": (-2.7, {AGE: 0.03, BMI: 0.04}),
}  # fmt: skip

#: A joint effusion (the imaging cohort's "other" finding, :mod:`~msklabel.clinical.imaging`):
#: more likely with cartilage T2 raised and tibial cartilage and meniscus lost, so that the
#: biomarkers explain only part of it; the rest is visible in the image alone.
EFFUSION: Finding = (-1.2, {
    "femoral_cartilage_t2_mean_ms": 0.6,
    "medial_tibial_cartilage_thickness_mean_mm": -0.5,
    "medial_meniscus_volume_mm3": -0.4,
})  # fmt: skip

#: The triage targets, each the union of some findings. Stage A, B, then C.
TARGETS: dict[str, tuple[str, ...]] = {
    "any": tuple(FINDINGS),
    "bone_or_cartilage": tuple(f for f in FINDINGS if f.startswith(("bone", "cartilage"))),
    "femur": ("cartilage_femur", "bone_femur"),
    "tibia": ("cartilage_tibia", "bone_tibia"),
    "patella": ("cartilage_patella", "bone_patella"),
    "cartilage": ("cartilage_femur", "cartilage_tibia", "cartilage_patella"),
    "bone": ("bone_femur", "bone_tibia", "bone_patella"),
    "meniscus": ("meniscus",),
}
_MEAN_AGE, _MEAN_BMI = 61.0, 28.6


def finding_column(name: str) -> str:
    return f"finding_{name}"


def oracle_column(name: str) -> str:
    return f"oracle_{name}"


@dataclass(frozen=True)
class _Knees:
    """The per-knee latent state shared by both generators."""

    subject: np.ndarray
    knee: np.ndarray
    age: np.ndarray
    female: np.ndarray
    bmi: np.ndarray
    latent: np.ndarray  # degeneration score
    tissue_offset: np.ndarray  # (knees, biomarkers): latent offset of the joint and tissue
    noise: np.ndarray  # (knees, biomarkers): fixed biomarker noise (z units)


def _draw_knees(rng: np.random.Generator, n_subjects: int) -> _Knees:
    age = np.clip(rng.normal(_MEAN_AGE, 9.2, n_subjects), 45, 79)
    female = rng.random(n_subjects) < 0.58
    bmi = np.clip(rng.normal(_MEAN_BMI, 4.8, n_subjects), 17, 50)
    subject_effect = rng.normal(0, 0.7, n_subjects)
    idx = np.repeat(np.arange(n_subjects), 2)
    latent = (
        0.035 * (age[idx] - _MEAN_AGE)
        + 0.09 * (bmi[idx] - _MEAN_BMI)
        + 0.15 * female[idx]
        + subject_effect[idx]
        + rng.normal(0, 0.7, idx.size)
    )
    groups = sorted({(b.joint, b.tissue) for b in BIOMARKERS}, key=str)
    group_offset = rng.normal(0, 0.6, (idx.size, len(groups)))
    column = [groups.index((b.joint, b.tissue)) for b in BIOMARKERS]
    noise = rng.normal(0, 0.7, (idx.size, len(BIOMARKERS)))
    subject = np.array([f"S{i:05d}" for i in range(n_subjects)])[idx]
    knee = np.char.add(subject, np.tile(np.array(["-L", "-R"]), n_subjects))
    return _Knees(
        subject, knee, age[idx], female[idx], bmi[idx], latent, group_offset[:, column], noise
    )


def _loading(name: str) -> float:
    for key in ("thickness", "volume", "t2"):
        if key in name and "cartilage" in name:
            return _LOADING[key]
    return _LOADING["meniscus" if "meniscus" in name else "bone"]


def _biomarker_z(knees: _Knees, latent: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Generator z-scores (sex-specific) of every biomarker from the latent scores."""
    loadings = np.array([_loading(b.name) for b in BIOMARKERS])
    return loadings * (latent[:, None] + knees.tissue_offset) + noise


def _to_units(z: np.ndarray, female: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for j, b in enumerate(BIOMARKERS):
        mean, sd = REFERENCE_VALUES[b.name]
        factor = np.where(female, FEMALE_FACTOR[b.unit], 1.0)
        out[b.name] = factor * (mean + sd * z[:, j])
    return out


def _finding_probabilities(
    z: np.ndarray, age: np.ndarray, bmi: np.ndarray, findings: Findings
) -> pd.DataFrame:
    columns = {b.name: z[:, j] for j, b in enumerate(BIOMARKERS)}
    columns[AGE], columns[BMI] = age - _MEAN_AGE, bmi - _MEAN_BMI
    probs = {}
    for name, (intercept, weights) in findings.items():
        logit = intercept + sum(w * columns[k] for k, w in weights.items())
        probs[name] = 1.0 / (1.0 + np.exp(-logit))
    return pd.DataFrame(probs)


def synthetic_triage_cohort(
    n_subjects: int, seed: int = 0, findings: Findings = FINDINGS
) -> pd.DataFrame:
    """One row per knee (two per subject): biomarkers, demographics, findings, targets.

    Findings are drawn independently given the biomarkers, so the oracle probability
    of every target is known exactly: ``oracle_<target>`` columns hold it. ``findings``
    gives the model of each finding of :data:`FINDINGS` (same names).
    """
    if set(findings) != set(FINDINGS):
        raise ValueError(f"findings must model exactly {', '.join(FINDINGS)}")
    rng = np.random.default_rng(seed)
    knees = _draw_knees(rng, n_subjects)
    z = _biomarker_z(knees, knees.latent, knees.noise)
    probs = _finding_probabilities(z, knees.age, knees.bmi, findings)
    table = pd.DataFrame({SUBJECT: knees.subject, KNEE: knees.knee})
    table[AGE], table[BMI] = knees.age.round(1), knees.bmi.round(1)
    table[SEX] = np.where(knees.female, "F", "M")
    for name, values in _to_units(z, knees.female).items():
        table[name] = values
    findings = rng.random(probs.shape) < probs.to_numpy()
    for j, name in enumerate(FINDINGS):
        table[finding_column(name)] = findings[:, j].astype(int)
    for target, members in TARGETS.items():
        table[target_column(target)] = table[[finding_column(m) for m in members]].max(axis=1)
        table[oracle_column(target)] = 1.0 - (1.0 - probs[list(members)]).prod(axis=1)
    return table


def normal_reference_table(n_subjects: int, seed: int = 1) -> pd.DataFrame:
    """Knees without any finding from a separate synthetic cohort: a z-score reference."""
    table = synthetic_triage_cohort(n_subjects, seed)
    return table[table[target_column("any")] == 0].reset_index(drop=True)


def synthetic_longitudinal_cohort(
    n_subjects: int,
    seed: int = 0,
    visits: tuple[int, ...] = (0, 12, 24, 36, 48, 60, 72, 84, 96),
    censoring: bool = True,
) -> pd.DataFrame:
    """One row per knee and visit, with KL grade and knee-replacement follow-up.

    Columns besides the biomarkers and demographics: ``kl_grade`` (0-4, read at the
    visit), ``tkr_month`` (month the knee was replaced, NaN if not seen) and
    ``last_contact_month`` (end of follow-up). Knees leave at replacement; subjects
    drop out at random (about 4% a year) when ``censoring`` is true. The same seed
    gives the same knees with and without censoring.
    """
    rng = np.random.default_rng(seed)
    knees = _draw_knees(rng, n_subjects)
    n = knees.latent.size
    rate = np.clip(
        0.06
        + 0.02 * (knees.bmi - _MEAN_BMI) / 4.8
        + 0.06 * np.clip(knees.latent, 0, None)
        + rng.normal(0, 0.04, n),
        0.0,
        None,
    )
    kl_offset = rng.normal(0, 0.5, n)
    dropout = rng.exponential(300.0, n_subjects)[np.repeat(np.arange(n_subjects), 2)]
    end = np.full(n, float(visits[-1]))
    if censoring:
        end = np.minimum(end, dropout)
    tkr_month = np.full(n, np.nan)
    rows = []
    for month in visits:
        latent = knees.latent + rate * month / 12.0
        severity = latent + kl_offset - 1.0
        if month > 0:
            hazard = 1.0 / (1.0 + np.exp(-(-5.6 + 1.6 * severity)))
            replaced = (severity > 0) & (rng.random(n) < hazard) & np.isnan(tkr_month)
            tkr_month[replaced & (month <= end)] = month
        z = _biomarker_z(knees, latent, knees.noise + rng.normal(0, 0.25, knees.noise.shape))
        seen = (month <= end) & np.isnan(tkr_month)
        kl = np.digitize(severity, [-0.5, 0.0, 1.0, 2.0])
        visit = pd.DataFrame({SUBJECT: knees.subject, KNEE: knees.knee, VISIT: month})
        visit[AGE] = (knees.age + month / 12.0).round(1)
        visit[SEX] = np.where(knees.female, "F", "M")
        visit[BMI] = knees.bmi.round(1)
        for name, values in _to_units(z, knees.female).items():
            visit[name] = values
        visit["kl_grade"] = kl
        rows.append(visit[seen])
    table = pd.concat(rows, ignore_index=True)
    last_visit = table.groupby(KNEE)[VISIT].max()
    by_knee = pd.DataFrame({"tkr_month": tkr_month}, index=knees.knee)
    by_knee["last_contact_month"] = np.where(
        np.isnan(tkr_month), last_visit.reindex(knees.knee).to_numpy(), tkr_month
    )
    table = table.join(by_knee, on=KNEE)
    return table.sort_values([KNEE, VISIT], ignore_index=True)
