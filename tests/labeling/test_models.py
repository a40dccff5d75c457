"""The served model follows the checkpoints that training publishes, without a restart."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from msklabel.data.phantom import PhantomConfig, make_phantom
from msklabel.errors import DeviceError
from msklabel.io.nifti import write_nifti
from msklabel.labeling.models import KneeSegStore, ModelSpec, ModelStore
from msklabel.labels import KneeLabel
from msklabel.volume import Volume

pytestmark = pytest.mark.slow


def test_a_published_checkpoint_is_served_on_the_next_request(tmp_path):
    store = ModelStore(ModelSpec("litemedsam"), tmp_path, "litemedsam")
    first = store.segmenter()
    assert store.segmenter() is first, "no reload while nothing is published"
    assert store.report() == {}

    backend = first.backend
    with torch.no_grad():
        next(backend.network.mask_decoder.parameters()).add_(0.01)
    staged = store.staging()
    backend.save_checkpoint(staged)
    store.publish(staged, {"steps": 3})

    second = store.segmenter()
    assert second is not first
    assert second.backend.model_id != first.backend.model_id
    assert second.cache is first.cache, "one embedding cache across model versions"
    assert store.report() == {"steps": 3}
    assert not staged.exists() and store.published.is_file()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_sessions_are_kept_per_image_while_file_and_weights_stay(tmp_path):
    store = ModelStore(ModelSpec("litemedsam"), tmp_path / "model", "litemedsam")
    volume = Volume(np.random.default_rng(0).normal(100, 20, (3, 32, 32)), np.eye(4))
    write_nifti(volume, tmp_path / "a.nii.gz")
    write_nifti(volume.with_array(volume.array + 5), tmp_path / "b.nii.gz")
    first = store.session(tmp_path / "a.nii.gz")
    assert store.session(tmp_path / "a.nii.gz") is first
    other = store.session(tmp_path / "b.nii.gz")
    assert other is not first and other.image_id != first.image_id
    write_nifti(volume.with_array(volume.array * 2), tmp_path / "a.nii.gz")
    os.utime(tmp_path / "a.nii.gz", ns=(1, 10**18))
    assert store.session(tmp_path / "a.nii.gz") is not first, "a changed file is read again"


def test_a_store_serves_on_its_device_and_on_the_one_a_request_names(tmp_path):
    store = ModelStore(ModelSpec("litemedsam"), tmp_path, "litemedsam", device="cpu")
    segmenter = store.segmenter()
    assert store.device == segmenter.backend.device == torch.device("cpu")
    assert store.segmenter("cpu") is segmenter, "one model per device, loaded once"
    with pytest.raises(DeviceError, match="device 'gpu': unknown"):
        store.segmenter("gpu")


def test_the_knee_network_labels_are_kept_per_image_while_file_and_weights_stay(tmp_path):
    config = PhantomConfig(spacing=(4.0, 0.8, 0.8), echo_times=(30.0,), supersampling=1)
    knee = make_phantom(config).echoes[0]
    image = tmp_path / "knee.nii.gz"
    write_nifti(Volume(knee.array[12:18].astype(np.int16), knee.affine), image)
    store = KneeSegStore(tmp_path / "model")
    first = store.knee(image)
    assert first.labels.shape == (6, *knee.shape[1:])
    assert KneeLabel.FEMUR in np.unique(first.labels.array)
    assert store.knee(image) is first
    os.utime(image, ns=(1, 10**18))
    assert store.knee(image) is not first, "a changed file is read again"
