"""Training sets from saved labels, and the detector trained and published from them."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.data.phantom import PhantomConfig, make_phantom
from msklabel.detect import TrainConfig
from msklabel.detect.training import MIN_STEPS
from msklabel.errors import InputError
from msklabel.io.nifti import read_nifti, write_nifti
from msklabel.labeling.models import DetectorStore
from msklabel.labeling.training import train_detector_and_publish, training_slices
from msklabel.labels import KneeLabel
from msklabel.volume import Volume

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A phantom image and its label map, saved as a datastore holds them."""
    phantom = make_phantom(
        PhantomConfig(spacing=(4.0, 0.8, 0.8), echo_times=(30.0,), supersampling=1)
    )
    folder = tmp_path_factory.mktemp("saved")
    write_nifti(phantom.echoes[0], folder / "image.nii.gz")
    write_nifti(phantom.labels, folder / "label.nii.gz")
    return folder / "image.nii.gz", folder / "label.nii.gz", phantom.labels.array


def test_training_slices_are_spread_over_the_examples(saved):
    image, label, truth = saved
    labels = [KneeLabel.FEMUR, KneeLabel.PATELLA]
    every = training_slices([(image, label)], labels)
    expected = sum(int(((truth == v).sum(axis=(1, 2)) >= 10).sum()) for v in labels)
    assert len(every.images) == expected
    few = training_slices([(image, label)], labels, max_slices=4)
    assert len(few.images) == 4
    assert few.masks[0].sum() > 0 and few.images.dtype == np.float32
    assert any(np.array_equal(few.masks[-1], mask) for mask in every.masks[-3:])


def test_a_trained_detector_is_published_and_served(saved, tmp_path):
    store = DetectorStore(tmp_path)
    shipped = store.detector()
    assert store.detector() is shipped
    config = TrainConfig(steps=MIN_STEPS, batch_size=1)
    report = train_detector_and_publish(store, [saved[:2]], config)
    assert report["labels"] == 1 and report["config"]["steps"] == MIN_STEPS
    assert report["imaged_slices"] > 0  # the label's own image is trained on
    trained = store.detector()
    assert trained is not shipped and trained.info["config"]["steps"] == MIN_STEPS
    assert store.report()["final_loss"] == report["final_loss"]


def test_a_label_off_its_image_grid_is_refused_naming_the_image(saved, tmp_path):
    image, label, truth = saved
    cropped = tmp_path / "cropped.nii.gz"
    write_nifti(Volume(truth[1:], read_nifti(label).affine), cropped)
    with pytest.raises(InputError, match=r"image\.nii\.gz.*cropped\.nii\.gz.*grid"):
        train_detector_and_publish(DetectorStore(tmp_path), [(image, cropped)], TrainConfig(20))
