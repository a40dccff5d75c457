"""The held-out knee simulation: stimulated echoes, T2, determinism, deformed anatomy,
DICOM output and CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from msklabel.cli import main
from msklabel.data.simulation import simulate_study, write_study
from msklabel.data.simulation.anatomy import unposed_labels
from msklabel.data.simulation.presets import preset
from msklabel.data.simulation.sequence import cpmg_echoes, slice_profile
from msklabel.io.chemical_shift import chemical_shift
from msklabel.io.dicom import field_strength, read_dicom_series, series_header
from msklabel.io.nifti import read_nifti
from msklabel.labels import BONES, CARTILAGE_PLATES, KneeLabel
from msklabel.segment.overlap import dice

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study():
    return simulate_study("clinical-3t", 3, slices=8, matrix=128)


def _means(study, mask: np.ndarray) -> np.ndarray:
    return np.array([v.array[mask].mean() for v in study.echoes])


def _later_echo_fit(times: np.ndarray, signal: np.ndarray) -> tuple[float, float]:
    """T2 and the signal extrapolated to the first echo time, from echoes 2 onwards."""
    slope, intercept = np.polyfit(times[1:], np.log(signal[1:]), 1)
    return -1.0 / slope, float(np.exp(intercept + slope * times[0]))


def test_epg_without_imperfections_is_mono_exponential():
    echoes = cpmg_echoes(1e9, 37.0, 90.0, 180.0, 10.0, 7)
    assert np.allclose(echoes, np.exp(-np.arange(1, 8) * 10.0 / 37.0), rtol=1e-9)


def test_slice_profile_t2_from_later_echoes_is_close():
    # pure cartilage through a 3 mm slice profile at B1 0.85: echoes 2-7 recover T2
    spec = preset("clinical-3t")
    offsets = np.linspace(-1.25, 1.25, spec.sub_slices)
    excitation = 90 * 0.85 * slice_profile(offsets, spec.excitation_tbw)
    refocusing = 180 * 0.85 * slice_profile(offsets, spec.refocusing_tbw)
    signal = cpmg_echoes(1240.0, 37.0, excitation, refocusing, 10.0, 7).sum(0)
    t2, _ = _later_echo_fit(10.0 * np.arange(1, 8), signal)
    assert 37.0 * 0.95 < t2 < 37.0 * 1.25


def test_cartilage_shows_the_stimulated_echo_pattern(study):
    cartilage = np.isin(study.truth.array, CARTILAGE_PLATES)
    signal = _means(study, cartilage)
    ratio = signal[1] / signal[0]
    assert 0.95 <= ratio <= 1.15, ratio  # the real sample: 1.03
    times = np.array(study.preset.echo_times)
    _, extrapolated = _later_echo_fit(times, signal)
    # the first echo has no stimulated-echo pathway: it lies below what later echoes predict
    assert signal[0] < 0.95 * extrapolated


def test_muscle_decay_alternates_and_gives_t2(study):
    muscle = ndimage.binary_erosion(study.truth.array == KneeLabel.MUSCLE, iterations=2)
    signal = _means(study, muscle)
    ratios = signal[1:] / signal[:-1]
    steps = np.sign(np.diff(ratios))
    assert np.all(steps[1:] == -steps[:-1])  # odd/even echoes alternate
    t2, _ = _later_echo_fit(np.array(study.preset.echo_times), signal)
    assert abs(t2 / study.t2["muscle"] - 1) < 0.35


def test_same_seed_same_study_other_seed_other_study():
    a = simulate_study("pd-fatsat", 7, slices=2, matrix=48)
    b = simulate_study("pd-fatsat", 7, slices=2, matrix=48)
    c = simulate_study("pd-fatsat", 8, slices=2, matrix=48)
    assert len(a.echoes) == 1 and a.echoes[0].echo_time == pytest.approx(31.5)
    assert np.array_equal(a.echoes[0].array, b.echoes[0].array)
    assert np.array_equal(a.truth.array, b.truth.array)
    assert not np.array_equal(a.echoes[0].array, c.echoes[0].array)


def test_anatomy_is_deformed_yet_bones_stay_bones(study):
    truth = study.truth.array
    plain = unposed_labels(study.anatomy.source, study.truth, study.anatomy.target_centre)
    scores = [dice(truth == bone, plain == bone) for bone in BONES]
    assert np.mean(scores) < 0.9, scores
    for bone in (KneeLabel.FEMUR, KneeLabel.TIBIA):
        mask = truth == bone
        assert 0.7 < mask.sum() / (plain == bone).sum() < 1.4
        parts, _ = ndimage.label(mask)
        assert np.bincount(parts.ravel())[1:].max() > 0.9 * mask.sum()
    # a left knee: the lateral compartment lies on the patient's left (+x in LPS)
    sides = [
        study.truth.index_to_patient(np.argwhere(truth == label)).mean(0)[0]
        for label in (KneeLabel.MEDIAL_TIBIAL_CARTILAGE, KneeLabel.LATERAL_TIBIAL_CARTILAGE)
    ]
    assert sides[1] > sides[0]


def test_switching_the_chemical_shift_off_changes_only_the_image():
    spec = preset("clinical-1.5t")
    shifted = simulate_study(spec, 2, slices=2, matrix=48, echoes=1)
    still = simulate_study(replace(spec, chemical_shift=False), 2, slices=2, matrix=48, echoes=1)
    assert (shifted.preset.fat_shift, still.preset.fat_shift) == (pytest.approx(1.67, abs=0.01), 0)
    assert np.array_equal(shifted.truth.array, still.truth.array)
    assert (shifted.b1_mean, shifted.t2) == (still.b1_mean, still.t2)
    assert not np.array_equal(shifted.echoes[0].array, still.echoes[0].array)


def test_written_study_reads_back(tmp_path):
    small = simulate_study("clinical-1.5t", 2, slices=3, matrix=48, echoes=4)
    paths = write_study(small, tmp_path)
    volumes = read_dicom_series(paths["dicom"])
    assert [v.echo_time for v in volumes] == pytest.approx([13.8, 27.6, 41.4, 55.2])
    for written, read in zip(small.echoes, volumes, strict=True):
        assert np.array_equal(read.array, written.array)
        assert np.allclose(read.affine, written.affine, atol=1e-4)
    header = series_header(volumes[0])
    assert field_strength(header) == pytest.approx(1.5)
    shift = chemical_shift(header)  # 130 Hz/px at 1.5 T, readout down the columns
    assert shift is not None and shift.fat_suppression is None and shift.readout == "COL"
    assert shift.pixels == pytest.approx(small.preset.fat_shift)
    truth = read_nifti(paths["truth"])
    assert np.array_equal(truth.array, small.truth.array)
    facts = json.loads(paths["facts"].read_text())
    assert facts["t2_ms"]["cartilage"] == pytest.approx(small.t2["cartilage"])


def test_cli_simulates(tmp_path, capsys):
    code = main(
        [
            "data",
            "simulate",
            "--preset",
            "pd-fatsat",
            "--seed",
            "1",
            "--out",
            str(tmp_path),
            "--slices",
            "2",
            "--matrix",
            "48",
        ]
    )
    assert code == 0
    assert len(read_dicom_series(tmp_path / "dicom")) == 1
    assert (tmp_path / "truth.nii.gz").is_file()
    assert (
        main(["data", "simulate", "--preset", "nope", "--seed", "1", "--out", str(tmp_path)]) != 0
    )
    assert "unknown preset" in capsys.readouterr().err
