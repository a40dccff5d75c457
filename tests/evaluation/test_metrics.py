import numpy as np
import pytest

from msklabel.evaluation.agreement import bland_altman, icc, lin_ccc, mean_ci
from msklabel.evaluation.metrics import dice, hd95, iou, surface_dice, volume_difference


def _box(shape, start, stop):
    mask = np.zeros(shape, bool)
    mask[tuple(slice(a, b) for a, b in zip(start, stop, strict=True))] = True
    return mask


def test_overlap_of_shifted_boxes():
    a = _box((20, 20, 20), (5, 5, 5), (15, 15, 15))  # 1000 voxels
    b = _box((20, 20, 20), (7, 5, 5), (17, 15, 15))  # shifted 2 slices: 800 shared
    assert dice(a, b) == pytest.approx(0.8)
    assert iou(a, b) == pytest.approx(800 / 1200)
    assert volume_difference(b, a, 2.0) == 0.0
    # the faces normal to the shift lie 2 slices (3 mm at 1.5 mm) apart
    assert hd95(a, b, (1.5, 1.0, 1.0)) == pytest.approx(3.0)
    assert surface_dice(a, b, (1.5, 1.0, 1.0), 3.0) == 1.0
    assert surface_dice(a, b, (1.5, 1.0, 1.0), 1.0) < 1.0


def test_empty_masks():
    empty = np.zeros((4, 4, 4), bool)
    assert dice(empty, empty) == 1.0 and iou(empty, empty) == 1.0
    assert np.isnan(hd95(empty, _box((4, 4, 4), (1, 1, 1), (3, 3, 3)), (1, 1, 1)))


def test_bland_altman_and_ccc():
    reference = np.array([1.0, 2.0, 3.0, 4.0])
    shifted = reference + np.array([0.5, 1.5, 0.5, 1.5])
    result = bland_altman(shifted, reference)
    sd = np.std([0.5, 1.5, 0.5, 1.5], ddof=1)
    assert result.bias == pytest.approx(1.0)
    assert result.upper - result.lower == pytest.approx(2 * 1.96 * sd)
    assert lin_ccc(reference, reference) == pytest.approx(1.0)
    assert lin_ccc(reference, shifted) < 1.0


def test_icc_matches_shrout_fleiss_1979():
    ratings = np.array(
        [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    )
    values = icc(ratings)  # published table 4: ICC(2,1) = .29, ICC(3,1) = .71
    assert round(values["icc2_1"].value, 2) == 0.29
    assert round(values["icc3_1"].value, 2) == 0.71
    # McGraw & Wong (1996) intervals, as R's irr::icc prints them for these data
    assert (values["icc2_1"].low, values["icc2_1"].high) == pytest.approx((0.019, 0.761), abs=5e-4)
    assert (values["icc3_1"].low, values["icc3_1"].high) == pytest.approx((0.342, 0.946), abs=5e-4)


def test_icc_interval_covers_the_true_value_about_95_percent():
    rng = np.random.default_rng(0)
    n, k, target_var, error_var = 20, 2, 4.0, 1.0  # true ICC(3,1) = 4 / 5
    covered = 0
    for _ in range(400):
        targets = rng.normal(0, np.sqrt(target_var), (n, 1))
        ratings = targets + rng.normal(0, np.sqrt(error_var), (n, k))
        interval = icc(ratings)["icc3_1"]
        covered += interval.low <= 0.8 <= interval.high
    assert 0.92 <= covered / 400 <= 0.98


def test_mean_ci_is_student_t():
    interval = mean_ci(np.array([1.0, 2.0, 3.0, np.nan]))
    # mean 2, SD 1, n 3: t(0.975, 2) = 4.303
    assert interval.value == 2.0
    assert interval.high - 2.0 == pytest.approx(4.3027 / np.sqrt(3), abs=1e-4)
    assert np.isnan(mean_ci(np.array([1.0])).low)
