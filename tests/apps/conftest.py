"""Shared pieces of the app tests: a local datastore of real and phantom images, helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from msklabel.data.phantom import PhantomConfig, make_phantom
from msklabel.io import read_volumes
from msklabel.io.nifti import read_nifti, write_nifti
from msklabel.labeling.studies import SAMPLE_IMAGE
from msklabel.volume import Volume

#: Image ids in the local test datastore.
KNEE, SLAB, PHANTOM = SAMPLE_IMAGE.removesuffix(".nii.gz"), "knee_slab", "phantom"


@dataclass(frozen=True)
class Studies:
    """A datastore folder and, outside it, what the tests check against."""

    folder: Path
    images: dict[str, Volume]
    phantom_truth: np.ndarray
    knee: str = KNEE
    slab: str = SLAB
    phantom: str = PHANTOM


@pytest.fixture(scope="session")
def studies(sample, tmp_path_factory) -> Studies:
    """The sample knee (first echo), five of its middle slices, and a knee phantom.

    The local app test saves labels in this datastore; later users only read its images.
    """
    folder = tmp_path_factory.mktemp("studies")
    knee = read_volumes(sample.dicom_dir)[0]
    affine = knee.affine.copy()
    affine[:3, 3] = knee.index_to_patient(np.array([9, 0, 0]))
    phantom = make_phantom(
        PhantomConfig(
            spacing=(4.0, 0.8, 0.8), echo_times=(30.0,), supersampling=1, noise_sigma=10.0
        )
    )
    slab = Volume(np.ascontiguousarray(knee.array[9:14]), affine)
    sources = {KNEE: knee, SLAB: slab, PHANTOM: phantom.echoes[0]}
    images = {}
    for name, volume in sources.items():
        volume = volume.with_array(volume.array.astype(np.int16))
        write_nifti(volume, folder / f"{name}.nii.gz")
        images[name] = read_nifti(folder / f"{name}.nii.gz")
    return Studies(folder, images, phantom.labels.array)
