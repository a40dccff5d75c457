"""A phantom study measured and stored as SEG + SR once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from msklabel.biomarkers.knee import KneeBiomarkers, measure_knee
from msklabel.clinical.bundle import load_default_bundles
from msklabel.clinical.cohort import synthetic_triage_cohort
from msklabel.clinical.features import AGE, BIOMARKER_NAMES, BMI, SEX
from msklabel.clinical.prediction import StudyPrediction
from msklabel.clinical.workflow import predict_study
from msklabel.data.phantom import PhantomConfig, write_phantom
from msklabel.dicom.seg import make_segmentation, read_source_images
from msklabel.dicom.sr import make_measurement_report
from msklabel.io import read_nifti, read_volumes
from msklabel.volume import Volume


@dataclass(frozen=True)
class StoredStudy:
    echoes: list[Volume]
    labels: Volume
    result: KneeBiomarkers
    source: list[Dataset]
    seg_path: Path
    sr_path: Path
    prediction: StudyPrediction


@pytest.fixture(scope="session")
def stored_study(tmp_path_factory) -> StoredStudy:
    root = tmp_path_factory.mktemp("phantom")
    files = write_phantom(PhantomConfig(orientation="oblique", regional_thickness=True), root)
    echoes = sorted(read_volumes(files.dicom_dir), key=lambda v: v.echo_time)
    nifti = read_nifti(files.labels)
    assert np.allclose(nifti.affine, echoes[0].affine, atol=1e-3)
    labels = echoes[0].with_array(nifti.array)
    result = measure_knee(labels, echoes=echoes)
    source = read_source_images(echoes[0])
    seg = make_segmentation(labels, source)
    prediction = predict_study(_demo_cohort_knee(), load_default_bundles())
    sr = make_measurement_report(
        result.measurements, seg, source, model_results=prediction.model_results()
    )
    seg_path, sr_path = root / "seg.dcm", root / "sr.dcm"
    seg.save_as(seg_path)
    sr.save_as(sr_path)
    return StoredStudy(echoes, labels, result, source, seg_path, sr_path, prediction)


def _demo_cohort_knee() -> dict:
    """One knee of the synthetic cohort, as a biomarkers mapping with demographics."""
    knee = synthetic_triage_cohort(20, seed=3).iloc[0]
    return {name: knee[name] for name in (*BIOMARKER_NAMES, AGE, SEX, BMI)}
