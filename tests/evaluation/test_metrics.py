import numpy as np
import pytest
import torch

from msklabel.data.phantom import PhantomConfig, make_phantom
from msklabel.evaluation.agreement import bland_altman, icc, lin_ccc, mean_ci
from msklabel.evaluation.metrics import dice, hd95, iou, surface_dice, volume_difference
from msklabel.labels import KneeLabel
from msklabel.testing.masks import boxes_as_masks

#: Peak expiratory flow (l/min) of 17 subjects by a Wright and a mini Wright meter: Bland JM,
#: Altman DG. Statistical methods for assessing agreement between two methods of clinical
#: measurement. Lancet 1986;i:307-10, table 1 (first readings).
WRIGHT = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
MINI_WRIGHT = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350,
               451]  # fmt: skip
#: Shrout PE, Fleiss JL. Intraclass correlations: uses in assessing rater reliability.
#: Psychol Bull 1979;86:420-8, table 2: 6 targets x 4 judges.
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
)


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
    values = icc(SHROUT_FLEISS)  # published table 4: ICC(2,1) = .29, ICC(3,1) = .71
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


@pytest.mark.slow
def test_overlap_and_surface_metrics_match_monai_on_a_phantom():
    """Against monai.metrics 1.6.1 on a phantom's true label map and a wrong one (each
    structure replaced by its box on every slice), anisotropic voxels. MONAI computes in
    float32, so HD95 agrees to 1e-6 relative."""
    from monai.metrics import compute_dice, compute_hausdorff_distance, compute_surface_dice

    phantom = make_phantom(PhantomConfig(seed=0, spacing=(3.0, 0.8, 0.7), echo_times=(10.0,),
                                         supersampling=1, fov_mm=140))  # fmt: skip
    truth, spacing = phantom.labels.array, phantom.labels.spacing
    structures = [KneeLabel.FEMUR, KneeLabel.PATELLA, KneeLabel.FEMORAL_CARTILAGE]
    wrong = boxes_as_masks(truth, structures)
    for structure in structures:
        a, b = wrong == structure, truth == structure
        x, y = (torch.from_numpy(m[None, None].astype(np.float64)) for m in (a, b))
        assert dice(a, b) == pytest.approx(compute_dice(x, y).item(), abs=1e-6)
        assert 0 < dice(a, b) < 1
        theirs = compute_hausdorff_distance(x, y, percentile=95, spacing=list(spacing)).item()
        assert hd95(a, b, spacing) == pytest.approx(theirs, rel=1e-6)
        for tolerance in (1.0, 2.2):  # no voxel distance lies at either (no float tie)
            theirs = compute_surface_dice(x, y, [tolerance], spacing=list(spacing)).item()
            assert surface_dice(a, b, spacing, tolerance) == pytest.approx(theirs, abs=1e-6)


def test_icc_matches_pingouin():
    """ICC(2,1) and ICC(3,1) as pingouin 0.6.1's ``intraclass_corr`` gives them (ICC(A,1)
    and ICC(C,1); its intervals are rounded to 2 decimals), on two published data sets."""
    cases = [  # pingouin's values, computed once (pingouin is not a dependency)
        (SHROUT_FLEISS, 0.28976377952755916, 0.7148407148407154, (0.02, 0.76), (0.34, 0.95)),
        (np.c_[WRIGHT, MINI_WRIGHT], 0.9459284055773102, 0.9429130724069795, (0.86, 0.98),
         (0.85, 0.98)),
    ]  # fmt: skip
    for ratings, icc2, icc3, interval2, interval3 in cases:
        values = icc(ratings)
        assert values["icc2_1"].value == pytest.approx(icc2, abs=1e-6)
        assert values["icc3_1"].value == pytest.approx(icc3, abs=1e-6)
        assert (round(values["icc2_1"].low, 2), round(values["icc2_1"].high, 2)) == interval2
        assert (round(values["icc3_1"].low, 2), round(values["icc3_1"].high, 2)) == interval3


def test_bland_altman_gives_the_published_peak_flow_values():
    """Bland & Altman (1986): mean difference -2.1 l/min, SD of the differences 38.8."""
    result = bland_altman(np.array(WRIGHT), np.array(MINI_WRIGHT))
    assert round(result.bias, 1) == -2.1
    assert round((result.upper - result.bias) / 1.96, 1) == 38.8
    assert result.lower == pytest.approx(result.bias - 1.96 * 38.765, abs=1e-3)
