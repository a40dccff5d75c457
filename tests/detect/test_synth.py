"""Training images synthesised from label maps: boxes, value ranges and the surroundings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msklabel.data.labelmaps import phantom_labels
from msklabel.detect.classes import DetectorClass
from msklabel.detect.synth import (
    BANK_SIZE,
    IMAGED_SHARE,
    ImageBank,
    LabelledSeries,
    SliceBank,
    boxes_of,
    outside_gaps,
    surroundings,
    synthesise,
)
from msklabel.detect.training import as_label_volume
from msklabel.labels import KneeLabel


@pytest.fixture(scope="module")
def labels():
    return phantom_labels(7, "sagittal", (2.0, 1.0, 1.0))


def test_boxes_of_label_maps_surround_each_class_with_pixel_edges() -> None:
    maps = torch.zeros(2, 32, 32, dtype=torch.long)
    maps[0, 4:10, 6:20] = KneeLabel.FEMUR
    maps[0, 20:22, 3:5] = KneeLabel.MEDIAL_MENISCUS
    maps[0, 25:27, 28:30] = KneeLabel.LATERAL_MENISCUS  # one box around both menisci
    boxes, present = boxes_of(maps)
    assert present[0, DetectorClass.FEMUR] and not present[1].any()
    assert boxes[0, DetectorClass.FEMUR].tolist() == [6, 4, 20, 10]
    assert boxes[0, DetectorClass.MENISCUS].tolist() == [3, 20, 30, 27]


def test_synthesised_batches_hold_the_structures_of_the_label_maps(labels) -> None:
    bank = SliceBank.of([labels])
    batch = synthesise(bank, 12, torch.Generator().manual_seed(1))
    assert batch.images.shape == (12, 1, 128, 128)
    assert float(batch.images.min()) >= 0.0 and float(batch.images.max()) <= 1.0
    assert batch.present[:, DetectorClass.FEMUR].any()
    assert not batch.present[:, DetectorClass.FIBULA].any()  # the phantom has none
    widths = batch.boxes[..., 2] - batch.boxes[..., 0]
    assert bool((widths[batch.present] > 0).all())


def test_a_narrow_gap_between_structures_keeps_the_background_but_open_space_does_not() -> None:
    maps = torch.zeros(1, 64, 64, dtype=torch.long)
    maps[0, 10:30, 10:50] = KneeLabel.FEMUR
    maps[0, 34:50, 10:50] = KneeLabel.TIBIA  # a 4-pixel joint space between them
    outside = outside_gaps(maps)[0]
    assert not outside[30:34, 15:45].any()  # the joint space
    assert not outside[maps[0] > 0].any()  # tissue itself
    assert outside[55:, :].all() and outside[:, 55:].all()  # open background
    assert outside[10:30, 9].all()  # right beside a structure's outer edge: no halo is kept


def test_surroundings_vary_between_images_and_stay_finite() -> None:
    generator = torch.Generator().manual_seed(3)
    image = torch.full((8, 1, 64, 64), 0.2)
    filled = surroundings(image, generator)
    assert filled.shape == image.shape and bool(torch.isfinite(filled).all())
    spread = filled.flatten(1).std(1)
    assert bool((spread > 0).all())  # never the flat background of the label map
    assert len({round(float(v), 4) for v in spread}) == 8  # each image its own


def test_the_same_seed_synthesises_the_same_images(labels) -> None:
    bank = SliceBank.of([labels])
    first = synthesise(bank, 4, torch.Generator().manual_seed(5))
    again = synthesise(bank, 4, torch.Generator().manual_seed(5))
    torch.testing.assert_close(first.images, again.images)  # the seed fixes every image


def test_each_image_holds_its_neighbouring_slices_either_side() -> None:
    array = np.zeros((9, 96, 96), np.uint8)
    array[:, 60:80, 20:70] = KneeLabel.FEMUR
    array[4, 20:45, 30:60] = KneeLabel.PATELLA  # on the middle slice only
    bank = SliceBank.of([as_label_volume(array, (1.0, 1.0, 1.0))])
    batch = synthesise(bank, 64, torch.Generator().manual_seed(4), context=1)
    assert batch.images.shape == (64, 3, 128, 128)
    centred = batch.present[:, DetectorClass.PATELLA]
    assert 0 < int(centred.sum()) < 64  # boxes are the middle slice's
    inside, outside = [], []
    for image, box in zip(
        batch.images[centred], batch.boxes[centred, DetectorClass.PATELLA], strict=True
    ):
        x0, y0, x1, y1 = box.long().tolist()
        change = (image[[0, 2]] - image[1]).abs().mean(0)  # neighbours against the middle
        mask = torch.zeros_like(change, dtype=torch.bool)
        mask[y0:y1, x0:x1] = True
        inside.append(float(change[mask].mean()))
        outside.append(float(change[~mask].mean()))
    assert np.mean(inside) > 2 * np.mean(outside)  # the patella is not on its neighbours


def test_neighbours_stay_within_their_own_volume() -> None:
    volume = as_label_volume(_block(KneeLabel.FEMUR))
    bank = SliceBank.of([volume, volume])  # six slices each
    assert bank.neighbour(torch.tensor([0, 5, 6]), 2).tolist() == [2, 5, 8]
    assert bank.neighbour(torch.tensor([7, 1]), -3).tolist() == [6, 0]
    rising = np.broadcast_to(np.arange(1.0, 7.0)[:, None, None], (6, 96, 96))  # by slice
    echoes = tuple(volume.with_array(rising * k) for k in (1.0, 2.0))
    imaged = ImageBank.of([LabelledSeries(volume, echoes)])
    assert imaged.span[[0, 5, 6, 11]].tolist() == [[0, 5], [0, 5], [6, 11], [6, 11]]
    stack = imaged.stacks(torch.tensor([6]), 1)  # the second echo's first slice
    assert stack.shape == (1, 3, BANK_SIZE, BANK_SIZE)
    levels = stack[0].flatten(1).max(1).values.tolist()
    assert levels[0] == levels[1] < levels[2]  # the first slice repeated before it


def _block(label: KneeLabel) -> np.ndarray:
    array = np.zeros((6, 96, 96), np.uint8)
    array[:, 30:60, 20:50] = label
    return array


def test_labelled_images_make_their_share_of_each_batch_with_their_own_boxes() -> None:
    femur = as_label_volume(_block(KneeLabel.FEMUR))
    patella = as_label_volume(_block(KneeLabel.PATELLA))
    echoes = tuple(patella.with_array(_block(KneeLabel.PATELLA) * k + 1.0) for k in (10.0, 3.0))
    imaged = ImageBank.of([LabelledSeries(patella, echoes)])
    assert len(imaged) == 12  # every slice of both echoes
    assert float(imaged.images.min()) >= 0.0 and float(imaged.images.max()) <= 1.0
    bank = SliceBank.of([femur])
    batch = synthesise(bank, 16, torch.Generator().manual_seed(2), imaged)
    real = round(IMAGED_SHARE * 16)
    found = batch.present[:, DetectorClass.PATELLA]
    assert not found[:-real].any() and found[-real:].all()  # the labelled images come last
    assert batch.present[:-real, DetectorClass.FEMUR].all()
    image, boxes = batch.images[-1, 0], batch.boxes[-1, DetectorClass.PATELLA].long()
    inside = image[boxes[1] : boxes[3], boxes[0] : boxes[2]]
    assert float(inside.mean()) > float(image.mean())  # the box is where the bright block is


def test_an_image_off_its_label_grid_is_refused() -> None:
    labels = as_label_volume(_block(KneeLabel.PATELLA))
    with pytest.raises(ValueError, match="not on the grid of its label volume"):
        LabelledSeries(labels, (as_label_volume(_block(KneeLabel.PATELLA)[1:]),))
    with pytest.raises(ValueError, match="at least one image"):
        LabelledSeries(labels, ())
