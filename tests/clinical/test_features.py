"""Feature columns, reference z-scores, demographics from the DICOM header, history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydicom import Dataset

from msklabel.biomarkers.measurement import Measurement, Measurements
from msklabel.clinical.cohort import REFERENCE_VALUES, TARGETS, synthetic_triage_cohort
from msklabel.clinical.features import (
    BIOMARKER_NAMES,
    BIOMARKERS,
    ReferenceCohort,
    demographics_from_header,
    feature_matrix,
    feature_names,
    history_feature_names,
    history_features,
    measurement_key,
    study_row,
)
from msklabel.clinical.triage import TARGET_NAMES


def test_one_list_of_biomarkers_everywhere() -> None:
    assert set(REFERENCE_VALUES) == set(BIOMARKER_NAMES)
    assert set(TARGETS) == set(TARGET_NAMES)
    assert all(name.endswith(("_mm", "_mm3", "_ms")) for name in BIOMARKER_NAMES)


def test_reference_zscores_are_standard_on_the_reference(reference: ReferenceCohort) -> None:
    table = synthetic_triage_cohort(300, seed=5)
    z = reference.zscores(table)
    assert list(z.columns) == [f"{n}_z" for n in BIOMARKER_NAMES]
    again = ReferenceCohort.from_table(table)
    z_self = again.zscores(table[table["sex"] == "F"])
    assert np.allclose(z_self.mean(), 0, atol=1e-9)
    assert np.allclose(z_self.std(ddof=1), 1)
    assert ReferenceCohort.from_dict(reference.to_dict()) == reference
    assert list(feature_matrix(table, reference).columns) == feature_names()


def test_demographics_from_the_dicom_header() -> None:
    ds = Dataset()
    ds.PatientAge, ds.PatientSex, ds.PatientWeight, ds.PatientSize = "061Y", "F", 70, 1.75
    assert demographics_from_header(ds) == {
        "age_years": 61.0, "sex": "F", "bmi_kg_m2": pytest.approx(22.857, abs=1e-3),
    }  # fmt: skip
    months = demographics_from_header({"PatientAge": "018M", "PatientSex": "O"})
    assert months == {"age_years": 1.5}  # sex O and missing size are left out


def test_study_row_prefers_the_header_and_accepts_a_measurements_list() -> None:
    values = dict.fromkeys(BIOMARKER_NAMES, 1.0)
    items = [Measurement(s, q, 1.0, d) for s, q, d in map(measurement_key, BIOMARKERS)]
    biomarkers = Measurements(items).to_json()
    row = study_row(biomarkers, {"age_years": 50, "sex": "M", "bmi_kg_m2": 30},
                    header={"PatientAge": "070Y"})  # fmt: skip
    assert row.loc[0, "age_years"] == 70 and row.loc[0, "sex"] == "M"
    assert (row.loc[0, list(BIOMARKER_NAMES)] == 1.0).all()
    with pytest.raises(ValueError, match=r"lacks .*bmi_kg_m2"):
        study_row(values, {"age_years": 50, "sex": "M"})


def test_history_uses_only_visits_up_to_the_landmark(
    reference: ReferenceCohort, longitudinal_cohort: pd.DataFrame
) -> None:
    knee = longitudinal_cohort[longitudinal_cohort["knee_id"] == "S00000-L"]
    at_24 = history_features(knee, reference, 24).iloc[0]
    assert at_24["n_visits"] == 3 and at_24["landmark_month"] == 24
    name = "femoral_cartilage_thickness_mean_mm_z"
    z = reference.zscores(knee.set_index("visit_month"))[name]
    assert at_24[name] == pytest.approx(z[24])
    assert at_24[f"{name}_per_year"] == pytest.approx((z[24] - z[0]) / 2)
    changed = knee.copy()
    changed.loc[changed["visit_month"] > 24, BIOMARKER_NAMES] = 0.0
    later = history_features(changed, reference, 24).iloc[0]
    assert later[history_feature_names()].equals(at_24[history_feature_names()])
