"""Measured biomarkers and header demographics as the clinical models' inputs."""

from __future__ import annotations

from pydicom.dataset import Dataset

from msklabel.biomarkers.measurement import Measurement, Measurements
from msklabel.clinical.features import BIOMARKER_NAMES, BIOMARKERS
from msklabel.pacs.features import clinical_biomarkers, header_demographics, measurement_key


def test_every_clinical_biomarker_maps_to_a_measurement() -> None:
    keys = {b.name: measurement_key(b) for b in BIOMARKERS}
    assert keys["femoral_cartilage_thickness_mean_mm"] == ("femoral_cartilage", "thickness", "mean")
    assert keys["medial_tibial_cartilage_t2_mean_ms"] == ("medial_tibial_cartilage", "t2", "mean")
    assert keys["lateral_meniscus_volume_mm3"] == ("lateral_meniscus", "volume", None)
    measurements = Measurements(Measurement(*key[:2], 1.0, key[2]) for key in keys.values())
    values, missing = clinical_biomarkers(measurements)
    assert missing == [] and list(values) == list(BIOMARKER_NAMES)
    values, missing = clinical_biomarkers(Measurements([Measurement("femur", "volume", 5.0)]))
    assert values == {"femur_volume_mm3": 5.0} and len(missing) == len(BIOMARKER_NAMES) - 1


def test_missing_demographics_are_reported_not_invented() -> None:
    header = Dataset()
    header.PatientAge, header.PatientSex, header.PatientWeight = "061Y", "O", 80
    found, reasons = header_demographics(header)
    assert found == {"age_years": 61.0}
    assert reasons == [
        "PatientSex unusable (F or M is needed)",
        "PatientWeight given, PatientSize absent (both, positive, are needed for the BMI)",
    ]
