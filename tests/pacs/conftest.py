"""Small phantom studies, listener processes and Orthanc helpers for the PACS routing tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from msklabel.data.phantom import Phantom, PhantomConfig, make_phantom
from msklabel.io.dicom_write import SeriesInfo, write_mr_series
from msklabel.io.nifti import write_nifti
from msklabel.testing.listener import ListenerProcess

#: A coarse two-echo phantom: 21 slices of 94 x 94, cheap to generate, store and measure.
SMALL_PHANTOM = PhantomConfig(
    spacing=(6.0, 1.5, 1.5), echo_times=(10.0, 40.0), supersampling=1, fov_mm=140
)
#: Demographics a study may carry (the clinical models need age, sex and BMI).
DEMOGRAPHICS = {"patient_sex": "F", "patient_age": "055Y", "patient_weight": 70.0,
                "patient_size": 1.68}  # fmt: skip


@dataclass(frozen=True)
class Study:
    """A written study: its files, UIDs and (for labels-driven pipelines) its label map."""

    files: list[Path]
    study_uid: str
    series_uid: str


@pytest.fixture(scope="session")
def small_phantom() -> Phantom:
    return make_phantom(SMALL_PHANTOM)


@pytest.fixture
def labels_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "labels"
    folder.mkdir()
    return folder


@pytest.fixture
def make_study(small_phantom: Phantom, tmp_path: Path, labels_dir: Path) -> Callable[..., Study]:
    """Write the small phantom as a new study (new UIDs), its labels in ``labels_dir``."""
    counter = iter(range(1000))

    def make(demographics: bool = False) -> Study:
        folder = tmp_path / f"study{next(counter)}"
        info = SeriesInfo(**DEMOGRAPHICS) if demographics else SeriesInfo()  # type: ignore[arg-type]
        files = write_mr_series(list(small_phantom.echoes), folder, info)
        header = pydicom.dcmread(files[0], stop_before_pixels=True)
        series_uid = str(header.SeriesInstanceUID)
        write_nifti(small_phantom.labels, labels_dir / f"{series_uid}.nii.gz")
        return Study(files, str(header.StudyInstanceUID), series_uid)

    return make


@pytest.fixture
def processes() -> Iterator[list[ListenerProcess]]:
    """Listener processes started by a test, stopped after it."""
    started: list[ListenerProcess] = []
    yield started
    for process in started:
        process.stop()
