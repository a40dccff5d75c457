"""Training images for the knee network: shapes, class shares, known classes, real images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msklabel.data.labelmaps import phantom_labels
from msklabel.detect.synth import LabelledSeries
from msklabel.kneeseg.bank import ImageBank, LabelBank
from msklabel.kneeseg.classes import SegClass
from msklabel.kneeseg.synth import IMAGED_SHARE, OUT_SIZE, synthesise
from msklabel.labels import KneeLabel
from msklabel.volume import Volume


@pytest.fixture(scope="module")
def labels():
    return phantom_labels(7, "sagittal", (2.0, 1.0, 1.0))


@pytest.fixture(scope="module")
def bank(labels) -> LabelBank:
    return LabelBank.of([labels])


def test_batches_hold_echo_pairs_and_class_shares_that_sum_to_one(bank) -> None:
    batch = synthesise(bank, 6, torch.Generator().manual_seed(1))
    assert batch.images.shape == (6, 2, OUT_SIZE, OUT_SIZE)
    assert batch.targets.shape == (6, len(SegClass), OUT_SIZE, OUT_SIZE)
    assert float(batch.images.min()) >= 0.0 and float(batch.images.max()) <= 1.0
    np.testing.assert_allclose(batch.targets.sum(1).numpy(), 1.0, atol=1e-4)
    found = batch.targets.argmax(1).unique().tolist()
    assert SegClass.FEMUR in found and SegClass.FEMORAL_CARTILAGE in found


def test_the_same_seed_gives_the_same_batch(bank) -> None:
    first = synthesise(bank, 3, torch.Generator().manual_seed(5))
    again = synthesise(bank, 3, torch.Generator().manual_seed(5))
    other = synthesise(bank, 3, torch.Generator().manual_seed(6))
    assert torch.equal(first.images, again.images)
    assert not torch.equal(first.images, other.images)


def test_classes_a_label_map_lacks_are_marked_unknown(labels) -> None:
    without_menisci = labels.with_array(
        np.where(np.isin(labels.array, [KneeLabel.MEDIAL_MENISCUS, KneeLabel.LATERAL_MENISCUS]),
                 0, labels.array).astype(np.uint8)
    )  # fmt: skip
    bank = LabelBank.of([labels, without_menisci])
    first, second = bank.known[0], bank.known[-1]
    assert first[SegClass.MENISCUS] and not second[SegClass.MENISCUS]
    assert not first[SegClass.FIBULA]  # the phantom has no fibula
    assert first[SegClass.FEMUR] and second[SegClass.FEMUR] and second[SegClass.BACKGROUND]


def test_bones_cut_by_the_field_of_view_go_on_beyond_it(labels) -> None:
    """The bank continues a label map's edge: a femur cut by the top of the field of view is
    a shaft up to the top of the bank's square (as in a real image)."""
    axis = int(np.argmax(np.abs(labels.affine[2, :3])))  # the array axis along superior
    along = np.moveaxis(labels.array == KneeLabel.FEMUR, axis, 0).any((1, 2))
    first, last = np.flatnonzero(along)[[0, -1]]
    middle = (first + last) // 2  # cut the femur half-way, keeping the joint
    keep = slice(0, middle) if labels.affine[2, axis] > 0 else slice(middle, None)
    cropped = np.moveaxis(np.moveaxis(labels.array, axis, 0)[keep], 0, axis)
    affine = labels.affine.copy()
    affine[:3, 3] += (keep.start or 0) * labels.affine[:3, axis]
    cut = LabelBank.of([Volume(np.ascontiguousarray(cropped), affine)])
    femur = cut.labels[len(cut) // 2] == KneeLabel.FEMUR
    assert int(torch.nonzero(femur.any(1)).min()) == 0
    uncut = LabelBank.of([labels]).labels[len(cut) // 2] == KneeLabel.FEMUR
    assert int(torch.nonzero(uncut.any(1)).min()) > 0  # whole, it ends inside the square


def test_labelled_images_make_their_share_of_each_batch(labels, bank) -> None:
    femur_only = labels.with_array((labels.array == KneeLabel.FEMUR).astype(np.uint8))
    image = labels.with_array((labels.array > 0).astype(np.float32) * 100)
    imaged = ImageBank.of([LabelledSeries(femur_only, (image,))])
    assert len(imaged) == labels.shape[0] and imaged.images.shape[1] == 2
    batch = synthesise(bank, 8, torch.Generator().manual_seed(2), imaged)
    real = round(IMAGED_SHARE * 8)
    assert bool(batch.known[:-real, SegClass.TIBIA].all())  # synthesised from the phantom
    assert not bool(batch.known[-real:, SegClass.TIBIA].any())  # the femur-only images
    assert bool(batch.known[-real:, SegClass.FEMUR].all())
    assert set(batch.targets[-real:].argmax(1).unique().tolist()) <= {0, int(SegClass.FEMUR)}
