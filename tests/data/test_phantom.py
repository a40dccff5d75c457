"""The synthetic knee phantom: geometry round trips, volumes, signal, determinism, config."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pydicom
import pytest

from msklabel.data import _sdf
from msklabel.data._sdf import DiscPlate, SphericalPlate, WedgeRing
from msklabel.data.phantom import (
    ORIENTATIONS,
    TISSUES,
    Phantom,
    PhantomConfig,
    make_phantom,
    save_phantom,
    write_phantom,
)
from msklabel.io import read_volumes
from msklabel.io.nifti import read_nifti
from msklabel.labels import CARTILAGE_PLATES, MENISCI, KneeLabel

#: A coarse anisotropic grid (all three spacings differ) and a few echoes, for quick checks.
COARSE = {"spacing": (3.0, 1.2, 1.5), "echo_times": (8.0, 20.0, 35.0, 50.0)}


@pytest.fixture(scope="module", params=ORIENTATIONS)
def default_phantom(request: pytest.FixtureRequest) -> Phantom:
    """The phantom at the default (anisotropic) spacing, one orientation at a time."""
    return make_phantom(PhantomConfig(orientation=request.param))


@pytest.mark.slow
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_dicom_and_nifti_round_trip(orientation: str, tmp_path) -> None:
    phantom = make_phantom(PhantomConfig(orientation=orientation, **COARSE))
    files = save_phantom(phantom, tmp_path)

    volumes = read_volumes(files.dicom_dir)
    assert len(volumes) == len(phantom.config.echo_times)
    assert [v.echo_time for v in volumes] == pytest.approx(phantom.config.echo_times)
    for volume, echo in zip(volumes, phantom.echoes, strict=True):
        np.testing.assert_allclose(volume.affine, phantom.labels.affine, atol=1e-4)
        np.testing.assert_array_equal(volume.array, echo.array)
    labels = read_nifti(files.labels)
    np.testing.assert_allclose(labels.affine, phantom.labels.affine, atol=1e-4)
    np.testing.assert_array_equal(labels.array, phantom.labels.array)

    truth = json.loads(files.truth.read_text())
    np.testing.assert_allclose(truth["affine"], phantom.labels.affine, atol=1e-9)
    assert truth["shape"] == list(phantom.labels.shape)
    assert truth["orientation"] == orientation


def test_one_series_per_echo(tmp_path) -> None:
    config = PhantomConfig(spacing=(3.0, 1.5, 1.5), echo_times=(10.0, 30.0, 50.0))
    files = write_phantom(config, tmp_path, series_per_echo=True)

    assert sorted(p.name for p in files.dicom_dir.iterdir()) == ["echo01", "echo02", "echo03"]
    volumes = read_volumes(files.dicom_dir)
    assert [v.echo_time for v in volumes] == pytest.approx(config.echo_times)
    assert len({v.series_instance_uid for v in volumes}) == 3
    assert len({v.study_instance_uid for v in volumes}) == 1


@pytest.mark.slow
def test_label_volumes_match_truth(default_phantom: Phantom) -> None:
    tissues = default_phantom.truth["tissues"]
    voxel_volume = default_phantom.labels.voxel_volume
    for label in TISSUES:
        expected = tissues[label.key]["volume_mm3"]
        found = np.count_nonzero(default_phantom.labels.array == label) * voxel_volume
        assert found == pytest.approx(expected, rel=0.01), label.key


@pytest.mark.slow
def test_limb_lies_inside_the_grid(default_phantom: Phantom) -> None:
    labels = default_phantom.labels.array
    for axis in range(3):
        assert not np.take(labels, [0, -1], axis=axis).any()


@pytest.mark.slow
def test_plates_and_menisci_are_whole(default_phantom: Phantom) -> None:
    """No other tissue cuts them: the sampled volume is the analytic one."""
    truth = default_phantom.truth
    for label in (*CARTILAGE_PLATES, *MENISCI):
        group = "cartilage" if label in CARTILAGE_PLATES else "menisci"
        analytic = truth[group][label.key]["analytic_volume_mm3"]
        assert truth["tissues"][label.key]["volume_mm3"] == pytest.approx(analytic, rel=2e-3)


@pytest.mark.slow
def test_thick_plates_stay_whole() -> None:
    """At the largest thickness the plates still clear each other and the menisci."""
    thick = {label.key: 3.5 for label in CARTILAGE_PLATES}
    truth = make_phantom(PhantomConfig(cartilage_thickness_mm=thick, echo_times=(10.0,))).truth
    for label in CARTILAGE_PLATES:
        plate = truth["cartilage"][label.key]
        assert plate["nominal_thickness_mm"] == 3.5
        assert plate["mean_thickness_mm"] == pytest.approx(3.5)
    for label in (*CARTILAGE_PLATES, *MENISCI):
        group = "cartilage" if label in CARTILAGE_PLATES else "menisci"
        analytic = truth[group][label.key]["analytic_volume_mm3"]
        assert truth["tissues"][label.key]["volume_mm3"] == pytest.approx(analytic, rel=2e-3)


@pytest.mark.slow
def test_t2_fits_in_thick_tissues(default_phantom: Phantom) -> None:
    echo_times = np.array(default_phantom.config.echo_times)
    for label in (KneeLabel.FEMUR, KneeLabel.TIBIA, KneeLabel.MUSCLE, KneeLabel.FAT):
        interior = _eroded(default_phantom.labels.array == label, depth=2)
        assert interior.sum() > 500, label.key
        means = [echo.array[interior].mean(dtype=np.float64) for echo in default_phantom.echoes]
        slope = np.polyfit(echo_times, np.log(means), 1)[0]
        assert -1.0 / slope == pytest.approx(TISSUES[label].t2_ms, rel=0.05), label.key


def test_same_seed_same_phantom_other_seed_other_noise() -> None:
    config = PhantomConfig(spacing=(3.0, 1.5, 1.5), echo_times=(10.0, 40.0))
    first, again = make_phantom(config), make_phantom(config)
    other = make_phantom(dataclasses.replace(config, seed=1))

    np.testing.assert_array_equal(first.labels.array, again.labels.array)
    for a, b, c in zip(first.echoes, again.echoes, other.echoes, strict=True):
        np.testing.assert_array_equal(a.array, b.array)
        assert not np.array_equal(a.array, c.array)
    np.testing.assert_array_equal(first.labels.array, other.labels.array)
    assert first.truth == again.truth


def test_truth_is_plain_json() -> None:
    phantom = make_phantom(PhantomConfig(spacing=(3.0, 1.5, 1.5), echo_times=(10.0,)))
    _assert_plain(phantom.truth)
    truth = phantom.truth
    assert truth["labels"]["background"] == 0
    assert {key: truth["labels"][key] for key in truth["tissues"]} == {
        label.key: int(label) for label in KneeLabel
    }
    for label in CARTILAGE_PLATES:
        plate = truth["cartilage"][label.key]
        assert plate["mean_thickness_mm"] == pytest.approx(plate["nominal_thickness_mm"])
        assert plate["definition"]
    assert all(e.array.dtype == np.float32 for e in phantom.echoes)
    assert phantom.echoes[0].array.max() <= 65535
    assert np.array_equal(phantom.echoes[0].array, np.round(phantom.echoes[0].array))
    assert phantom.labels.array.dtype == np.uint8


def test_regional_thickness_is_integrated() -> None:
    config = PhantomConfig(spacing=(3.0, 1.5, 1.5), echo_times=(10.0,), regional_thickness=True)
    truth = make_phantom(config).truth
    for label in CARTILAGE_PLATES:
        plate = truth["cartilage"][label.key]
        nominal = plate["nominal_thickness_mm"]
        assert 0.75 * nominal < plate["mean_thickness_mm"] < 1.25 * nominal
        assert plate["mean_thickness_mm"] != pytest.approx(nominal, rel=1e-3)
        assert plate["analytic_volume_mm3"] == pytest.approx(
            truth["tissues"][label.key]["volume_mm3"], rel=5e-3
        )


def test_evenly_spaced_echoes() -> None:
    assert PhantomConfig.evenly_spaced_echoes(8) == pytest.approx(PhantomConfig().echo_times)
    assert PhantomConfig.evenly_spaced_echoes(3, 10.0, 30.0) == pytest.approx((10, 20, 30))
    assert PhantomConfig.evenly_spaced_echoes(1) == (6.5,)
    with pytest.raises(ValueError, match="at least one echo"):
        PhantomConfig.evenly_spaced_echoes(0)


def test_a_gradient_echo_phantom_darkens_fat_and_says_so_in_its_header(tmp_path) -> None:
    coarse = {"spacing": (6.0, 2.0, 2.0), "echo_times": (6.0,), "supersampling": 1,
              "fov_mm": 140}  # fmt: skip
    spin_echo = make_phantom(PhantomConfig(**coarse))
    gradient_echo = make_phantom(PhantomConfig(**coarse, sequence="gre"))
    labels = gradient_echo.labels.array
    np.testing.assert_array_equal(labels, spin_echo.labels.array)  # the same anatomy

    def mean(phantom: Phantom, label: KneeLabel) -> float:
        return float(phantom.echoes[0].array[labels == label].mean())

    # water excitation: fat and fatty marrow go dark, cartilage stays bright
    for darker in (KneeLabel.FAT, KneeLabel.FEMUR):
        assert mean(gradient_echo, darker) < mean(gradient_echo, KneeLabel.FEMORAL_CARTILAGE)
        assert mean(spin_echo, darker) > mean(spin_echo, KneeLabel.FEMORAL_CARTILAGE)
    files = save_phantom(gradient_echo, tmp_path)
    header = pydicom.dcmread(next(files.dicom_dir.iterdir()), stop_before_pixels=True)
    assert (header.ScanningSequence, header.SequenceVariant, header.MRAcquisitionType) == (
        "GR", "SS", "3D"
    )  # fmt: skip
    assert float(header.RepetitionTime) == 16.0
    assert json.loads(files.truth.read_text())["sequence"] == "gre"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seed": -1}, "seed must be >= 0"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"orientation": "coronal"}, "orientation must be one of"),
        ({"spacing": (1.0, 1.0)}, "spacing needs 3 values"),
        ({"spacing": (0.0, 1.0, 1.0)}, "spacing must be 0.1..10 mm"),
        ({"spacing": ("a", 1.0, 1.0)}, "spacing must be numbers"),
        ({"spacing": (0.1, 0.1, 0.1)}, "voxels"),
        ({"fov_mm": 100.0}, "fov_mm must be >="),
        ({"echo_times": ()}, "at least one echo time"),
        ({"echo_times": (0.0, 10.0)}, "echo_times must be > 0"),
        ({"echo_times": (20.0, 10.0)}, "increase strictly"),
        ({"noise_sigma": -1.0}, "noise_sigma must be >= 0"),
        ({"noise_sigma": math.nan}, "noise_sigma must be finite"),
        ({"supersampling": 0}, "supersampling must be an integer 1..8"),
        ({"regional_thickness": "yes"}, "regional_thickness must be a bool"),
        ({"sequence": "flair"}, "sequence must be one of"),
        ({"cartilage_thickness_mm": {"meniscus": 2.0}}, "unknown plates"),
        ({"cartilage_thickness_mm": {"femoral_cartilage": 0.5}}, r"must be 1.0..3.5 mm"),
        ({"cartilage_thickness_mm": {"femoral_cartilage": "x"}}, "must be numbers"),
        ({"cartilage_thickness_mm": [2.0]}, "must map plate keys"),
        (
            {
                "regional_thickness": True,
                "cartilage_thickness_mm": {
                    "femoral_cartilage": 3.5,
                    "lateral_tibial_cartilage": 3.5,
                },
            },
            "overlap across the 8.0 mm joint gap",
        ),
    ],
)
def test_config_rejects_nonsense(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PhantomConfig(**changes)


def test_plate_quadrature_matches_closed_forms() -> None:
    radius, thickness, half_angle = 20.0, 3.0, math.radians(40.0)
    cap = SphericalPlate((1.0, 2.0, 3.0), radius, (0.0, 0.6, 0.8), half_angle, thickness)
    solid_angle = 2 * math.pi * (1 - math.cos(half_angle))
    samples = cap.samples()
    assert samples.area == pytest.approx(solid_angle * radius**2, rel=1e-5)
    assert samples.mean_thickness == pytest.approx(thickness)
    shell = ((radius + thickness) ** 3 - radius**3) / 3
    assert samples.volume == pytest.approx(solid_angle * shell, rel=1e-5)
    disc = DiscPlate((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 12.0, 2.5).samples()
    assert disc.volume == pytest.approx(math.pi * 12.0**2 * 2.5, rel=1e-9)


@pytest.mark.parametrize(
    "solid",
    [
        _sdf.capsule((-8.0, 1.0, 0.0), (9.0, -2.0, 4.0), 6.0),
        _sdf.capped_cylinder((1.0, 0.0, -2.0), (0.3, 0.2, 1.0), 9.0, 12.0),
        _sdf.stadium_prism((-9.0, 0.0, 0.0), (9.0, 0.0, 0.0), 7.0, (0.0, 0.0, 1.0)),
        _sdf.intersection(
            _sdf.sphere((0.0, 0.0, 0.0), 16.0), _sdf.cone((0.0, 0.0, 0.0), (0, 1, 1), 2.0)
        ),
        SphericalPlate(
            (0.0, 0.0, 0.0),
            15.0,
            (0.0, 0.0, -1.0),
            math.radians(100.0),
            3.0,
            0.25,
            ((1.0, 0.0, 0.0),),
            math.radians(50.0),
        ).field,
        DiscPlate((0.0, 0.0, -2.0), (0.1, 0.2, 1.0), 14.0, 4.0, 0.25).field,
        WedgeRing(
            (0.0, 0.0, -4.0), (0.0, 0.0, 1.0), 8.0, 18.0, 2.0, 9.0, (1.0, 0.0, 0.0), 0.9
        ).field,
    ],
    ids=["capsule", "cylinder", "stadium", "cone-cap", "sphere-plate", "disc-plate", "meniscus"],
)
def test_fields_never_exceed_the_distance_to_their_surface(solid: _sdf.Field) -> None:
    """The contract the supersampling relies on: ``|f(p)| <= distance(p, surface)``."""
    step = 0.4
    axis = np.arange(-24.0, 24.0, step, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"))
    inside = solid(grid.reshape(3, -1)).reshape(grid.shape[1:]) < 0
    surface = []
    for a in range(3):
        lower = tuple(slice(None, -1) if b == a else slice(None) for b in range(3))
        upper = tuple(slice(1, None) if b == a else slice(None) for b in range(3))
        midpoints = (grid[:, *lower] + grid[:, *upper]) / 2
        surface.append(midpoints[:, inside[lower] != inside[upper]])
    surface_points = np.concatenate(surface, axis=1)
    probes = np.random.default_rng(0).uniform(-20.0, 20.0, (3, 300)).astype(np.float32)
    distance = np.sqrt(((probes[:, :, None] - surface_points[:, None, :]) ** 2).sum(axis=0)).min(1)
    assert np.all(np.abs(solid(probes)) <= distance + step / 2)


def _eroded(mask: np.ndarray, depth: int) -> np.ndarray:
    """``mask`` less the voxels within ``depth`` face-neighbour steps of its outside."""
    for _ in range(depth):
        eroded = mask.copy()
        for axis in range(3):
            lower = tuple(slice(None, -1) if a == axis else slice(None) for a in range(3))
            upper = tuple(slice(1, None) if a == axis else slice(None) for a in range(3))
            eroded[lower] &= mask[upper]
            eroded[upper] &= mask[lower]
        mask = eroded
    return mask


def _assert_plain(value: Any) -> None:
    """Only JSON's own Python types, no numpy scalars."""
    if isinstance(value, dict):
        assert all(type(key) is str for key in value)
        for item in value.values():
            _assert_plain(item)
    elif isinstance(value, list):
        for item in value:
            _assert_plain(item)
    else:
        assert value is None or type(value) in (str, int, float, bool), repr(value)
