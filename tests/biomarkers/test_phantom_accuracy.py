"""Every knee biomarker against the phantoms' analytic truth (axial, sagittal, oblique)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from msklabel.biomarkers.regions import plate_regions
from msklabel.data._sdf import DiscPlate, SphericalPlate
from msklabel.data.phantom import Phantom, build_anatomy
from msklabel.labels import BONES, CARTILAGE_PLATES, MENISCI, KneeLabel

pytestmark = pytest.mark.slow


def _frame(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.eye(3)[int(np.argmin(np.abs(normal)))]
    e1 = np.cross(normal, helper)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(normal, e1)


def plate_quadrature(plate: SphericalPlate | DiscPlate, n: int = 600):
    """Points (LPS), area weights and analytic thickness over the bone surface a plate covers."""
    if isinstance(plate, SphericalPlate):
        axis = np.array(plate.axis)
        theta = (np.arange(n) + 0.5) * plate.half_angle / n
        phi = (np.arange(2 * n) + 0.5) * math.pi / n
        t, p = np.meshgrid(theta, phi, indexing="ij")
        e1, e2 = _frame(axis)
        d = (
            np.cos(t)[..., None] * axis
            + np.sin(t)[..., None] * (np.cos(p)[..., None] * e1 + np.sin(p)[..., None] * e2)
        ).reshape(-1, 3)
        weight = (np.sin(t) * plate.radius**2).ravel()
        keep = np.ones(len(d), bool)
        for excluded in plate.excluded:
            keep &= d @ np.array(excluded) < math.cos(plate.excluded_half_angle)
        u = t.ravel() / plate.half_angle
        points = np.array(plate.center) + plate.radius * d
    else:
        normal = np.array(plate.normal)
        rho = (np.arange(n) + 0.5) * plate.radius / n
        phi = (np.arange(2 * n) + 0.5) * math.pi / n
        r, p = np.meshgrid(rho, phi, indexing="ij")
        e1, e2 = _frame(normal)
        points = (
            np.array(plate.center)
            + (r * np.cos(p)).reshape(-1, 1) * e1
            + (r * np.sin(p)).reshape(-1, 1) * e2
        )
        weight, keep, u = r.ravel(), np.ones(r.size, bool), r.ravel() / plate.radius
    thickness = plate.thickness * (1 + plate.amplitude * np.cos(np.pi * u))
    return points[keep], weight[keep], thickness[keep]


def analytic_plates(phantom: Phantom):
    """The phantom's plates (label -> tuple of analytic plates)."""
    config = phantom.config
    return build_anatomy(config.regional_thickness, config.plate_thickness_mm).plates


def test_mean_thickness_per_plate_within_0_1_mm(measured_phantom):
    phantom, result = measured_phantom
    for plate in CARTILAGE_PLATES:
        truth = phantom.truth["cartilage"][plate.key]["mean_thickness_mm"]
        measured = result.measurements.get(plate.key, "thickness", "mean")
        assert measured == pytest.approx(truth, abs=0.1), plate.key


def test_interface_area_within_6_percent(measured_phantom):
    phantom, result = measured_phantom
    for plate in CARTILAGE_PLATES:
        truth = phantom.truth["cartilage"][plate.key]["bone_area_mm2"]
        assert result.measurements.get(plate.key, "area") == pytest.approx(truth, rel=0.06)


def test_volumes_within_2_percent(measured_phantom):
    phantom, result = measured_phantom
    for plate in CARTILAGE_PLATES:
        truth = phantom.truth["cartilage"][plate.key]["analytic_volume_mm3"]
        assert result.measurements.get(plate.key, "volume") == pytest.approx(truth, rel=0.02)
    for meniscus in MENISCI:
        truth = phantom.truth["menisci"][meniscus.key]["analytic_volume_mm3"]
        assert result.measurements.get(meniscus.key, "volume") == pytest.approx(truth, rel=0.02)
    for label in (*BONES, KneeLabel.MUSCLE):
        truth = phantom.truth["tissues"][label.key]["volume_mm3"]
        assert result.measurements.get(label.key, "volume") == pytest.approx(truth, rel=0.02)


def test_regional_mean_thickness_within_0_15_mm(measured_phantom):
    phantom, result = measured_phantom
    checked, errors = 0, {}
    for plate, parts in analytic_plates(phantom).items():
        quadrature = [plate_quadrature(part) for part in parts]
        points = np.concatenate([q[0] for q in quadrature])
        weights = np.concatenate([q[1] for q in quadrature])
        thickness = np.concatenate([q[2] for q in quadrature])
        codes = plate_regions(plate, points, result.frame)
        if codes is None:
            continue
        for region in sorted(set(codes)):
            chosen = codes == region
            truth = np.average(thickness[chosen], weights=weights[chosen])
            measured = result.measurements.get(plate.key, "thickness", "mean", region)
            errors[region] = measured - truth
            checked += 1
    assert max(abs(e) for e in errors.values()) < 0.15, errors
    assert checked == 12  # 6 femoral + 3 x 2 tibial regions


def test_t2_per_plate_within_5_percent(measured_phantom):
    phantom, result = measured_phantom
    for plate in CARTILAGE_PLATES:
        truth = phantom.truth["tissues"][plate.key]["t2_ms"]
        assert result.measurements.get(plate.key, "t2", "mean") == pytest.approx(truth, rel=0.05)
        for region in set(result.regions.get(plate, [])):
            regional = result.measurements.get(plate.key, "t2", "mean", region)
            assert regional == pytest.approx(truth, rel=0.05), (plate.key, region)


def test_muscle_t2_within_5_percent(measured_phantom):
    phantom, result = measured_phantom
    truth = phantom.truth["tissues"]["muscle"]["t2_ms"]
    for derivation in ("mean", "median"):
        measured = result.measurements.get("muscle", "t2", derivation)
        assert measured == pytest.approx(truth, rel=0.05), derivation


def test_thickness_map_holds_plate_thickness(measured_phantom):
    phantom, result = measured_phantom
    array = np.asarray(phantom.labels.array)
    values = result.thickness_map.array
    assert np.isnan(values[array == 0]).all()
    femoral = values[array == KneeLabel.FEMORAL_CARTILAGE]
    assert np.isfinite(femoral).all()
    assert np.median(femoral) == pytest.approx(
        phantom.truth["cartilage"]["femoral_cartilage"]["mean_thickness_mm"], abs=0.3
    )
