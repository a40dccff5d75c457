"""A simulated knee study: echo volumes, truth labels and true T2, and writing it out."""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from msklabel.data.simulation import presets
from msklabel.data.simulation.acquisition import (
    acquire,
    kspace_noise,
    random_coefficients,
    smooth_field,
)
from msklabel.data.simulation.anatomy import Anatomy, dess_source, random_anatomy
from msklabel.data.simulation.presets import Preset
from msklabel.data.simulation.sequence import cpmg_echoes, slice_profile
from msklabel.data.simulation.tissue import TISSUE_INDEX, TISSUE_NAMES, TISSUES, Component, jittered
from msklabel.data.threads import parallel_map
from msklabel.labels import CARTILAGE_PLATES, KneeLabel
from msklabel.volume import Volume

#: B1 scales the signal table is computed for (linear interpolation in between).
_B1_BINS = np.linspace(0.5, 1.3, 33)
#: Pool whose T2 is reported as a tissue's T2.
_MAIN_POOL = {
    "cartilage": "cartilage",
    "meniscus": "meniscus",
    "muscle": "muscle",
    "fluid": "fluid",
    "fat": "fat",
    "marrow": "fat",
    "skin": "skin",
}
#: Intensity of cartilage on the first image after scaling (DICOM pixel values).
_CARTILAGE_LEVEL = 1000.0


@dataclass(frozen=True)
class SimulatedStudy:
    """Echo volumes (one per image, ``echo_time`` set, sagittal), the truth on their grid
    (KneeLabel values), the true T2 (ms) of each tissue's main pool and what was drawn."""

    preset: Preset
    seed: int
    echoes: tuple[Volume, ...]
    truth: Volume
    t2: dict[str, float]
    snr: float
    b1_mean: float
    anatomy: Anatomy


def simulate_study(
    preset: str | Preset,
    seed: int,
    *,
    slices: int | None = None,
    matrix: int | None = None,
    echoes: int | None = None,
    effusion_mm: float = 0.0,
) -> SimulatedStudy:
    """Simulate ``preset`` (a name or a :class:`Preset`) for subject ``seed``
    (deterministic for the preset's name); ``slices``, ``matrix`` and ``echoes`` make it
    smaller (centred slices, coarser matrix, first echoes). ``effusion_mm`` > 0 draws a
    joint effusion (:attr:`Anatomy.effusion_mm`) into the same knee."""
    spec = (presets.preset(preset) if isinstance(preset, str) else preset).resized(
        slices, matrix, echoes
    )
    rng = np.random.default_rng([seed, zlib.crc32(spec.name.encode())])
    anatomy = replace(random_anatomy(dess_source(), rng), effusion_mm=effusion_mm)
    pools = jittered(spec.field_t, rng)
    b1_mean = rng.uniform(*spec.b1_range)
    b1_coefficients = random_coefficients(rng, 0.05)
    bias_coefficients = random_coefficients(rng, 0.25)
    fat_coefficients = random_coefficients(rng, 0.5)
    fat_residual = rng.uniform(*spec.fat_residual) if spec.fat_residual else 1.0
    snr = spec.snr * rng.uniform(0.85, 1.15)
    grid = _grid(spec, anatomy.target_centre)
    water_table, fat_table = _signal_tables(spec, pools)
    offsets = np.linspace(-1.25, 1.25, spec.sub_slices)
    fine = _fine_shape(spec)
    shift = spec.fat_shift
    centre = anatomy.target_centre

    def simulate_slice(k: int) -> tuple[np.ndarray, np.ndarray]:
        """Slice ``k``: its noiseless complex images ``[images, rows, columns]`` and truth."""
        water = np.zeros((*fine, len(spec.images)))
        fat = np.zeros_like(water)
        for j, offset in enumerate(offsets):
            points = _plane_points(grid, k, offset * spec.slice_thickness, fine)
            _, tissue = anatomy.tissue_at(points)
            b1 = b1_mean * (1.0 + smooth_field(points, b1_coefficients, centre))
            position = np.interp(b1, _B1_BINS, np.arange(_B1_BINS.size))
            low = np.clip(position.astype(int), 0, _B1_BINS.size - 2)
            weight = (position - low)[..., None]
            for table, out in ((water_table, water), (fat_table, fat)):
                values = table[tissue, j, low] * (1 - weight) + table[tissue, j, low + 1] * weight
                out += values
        plane = _plane_points(grid, k, 0.0, fine)
        coil = np.exp(smooth_field(plane, bias_coefficients, centre))[..., None]
        suppression = fat_residual * np.exp(smooth_field(plane, fat_coefficients, centre))
        water *= coil
        fat *= coil * (np.clip(suppression, 0, 1)[..., None] if spec.fat_residual else 1.0)
        images = [
            acquire(water[..., e], fat[..., e], spec.acquired, spec.matrix, shift)
            for e in range(len(spec.images))
        ]
        labels, _ = anatomy.tissue_at(_plane_points(grid, k, 0.0, grid.shape[1:]))
        return np.stack(images).astype(np.complex64), labels

    # The slices draw nothing at random: each is computed on its own, in any order.
    clean_slices, truth_slices = zip(
        *parallel_map(simulate_slice, range(grid.shape[0])), strict=True
    )
    clean = np.stack(clean_slices, axis=1)
    truth = np.stack(truth_slices)

    cartilage = np.isin(truth, CARTILAGE_PLATES)
    reference = (
        float(np.abs(clean[0][cartilage]).mean())
        if cartilage.any()
        else float(np.abs(clean[0]).mean())
    )
    sigma = reference / snr
    scale = _CARTILAGE_LEVEL / reference
    volumes = []
    for e, echo_time in enumerate(spec.echo_times):
        noisy = np.stack(
            [
                np.abs(clean[e, k] + kspace_noise(rng, spec.acquired, spec.matrix, sigma))
                for k in range(grid.shape[0])
            ]
        )
        pixels = np.clip(np.round(noisy * scale), 0, 65535).astype(np.float32)
        volumes.append(
            Volume(
                pixels,
                grid.affine,
                echo_time=echo_time,
                slice_thickness=spec.slice_thickness,
                modality="MR",
                series_description=f"simulated {spec.name}",
                acquisition_type="2D",
            )
        )
    t2 = {tissue: pools[pool].t2 for tissue, pool in _MAIN_POOL.items()}
    return SimulatedStudy(
        preset=spec,
        seed=seed,
        echoes=tuple(volumes),
        truth=grid.with_array(truth),
        t2=t2,
        snr=snr,
        b1_mean=float(b1_mean),
        anatomy=anatomy,
    )


def write_study(study: SimulatedStudy, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the echoes as one DICOM MR series (``dicom/``), the truth as ``truth.nii.gz``
    and the drawn parameters as ``truth.json``; returns those paths."""
    from pydicom import dcmread

    from msklabel.io.dicom_write import SeriesInfo, write_mr_series
    from msklabel.io.nifti import write_nifti

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = SeriesInfo(
        study_description="msklabel simulated knee",
        series_description=f"simulated {study.preset.name} seed {study.seed}",
        repetition_time=study.preset.repetition_time,
    )
    paths = write_mr_series(study.echoes, out / "dicom", info)
    spec = study.preset
    for path in paths:  # what the writer does not set: field, sequence, readout
        ds = dcmread(path)
        ds.MagneticFieldStrength = f"{spec.field_t:g}"
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = "FS" if spec.fat_residual else ""
        ds.PixelBandwidth = f"{spec.bandwidth_hz_per_pixel:g}"
        ds.InPlanePhaseEncodingDirection = "ROW"  # readout down the columns (array rows)
        ds.AcquisitionMatrix = [spec.acquired[0], 0, 0, spec.acquired[1]]
        ds.Laterality = "L"
        ds.save_as(path, enforce_file_format=True)
    write_nifti(study.truth, out / "truth.nii.gz")
    facts = {
        "preset": study.preset.name,
        "seed": study.seed,
        "field_strength_t": study.preset.field_t,
        "echo_times_ms": list(study.preset.echo_times),
        "snr": study.snr,
        "b1_mean": study.b1_mean,
        "t2_ms": study.t2,
        "labels": {label.name.lower(): int(label) for label in KneeLabel},
    }
    (out / "truth.json").write_text(json.dumps(facts, indent=2))
    return {"dicom": out / "dicom", "truth": out / "truth.nii.gz", "facts": out / "truth.json"}


def _signal_tables(spec: Preset, pools: dict[str, Component]) -> tuple[np.ndarray, np.ndarray]:
    """Water and fat signal ``[tissue, sub-slice, B1 bin, image]`` per unit volume."""
    offsets = np.linspace(-1.25, 1.25, spec.sub_slices)
    excitation = 90.0 * slice_profile(offsets, spec.excitation_tbw)[:, None] * _B1_BINS
    refocusing = 180.0 * slice_profile(offsets, spec.refocusing_tbw)[:, None] * _B1_BINS
    shape = (len(TISSUE_NAMES), spec.sub_slices, _B1_BINS.size, len(spec.images))
    water, fat = np.zeros(shape), np.zeros(shape)
    for name, mixture in TISSUES.items():
        for pool_name, fraction in mixture.items():
            pool = pools[pool_name]
            train = cpmg_echoes(
                pool.t1, pool.t2, excitation, refocusing, spec.echo_spacing, spec.echo_train
            )
            saturation = 1.0 - np.exp(-spec.repetition_time / pool.t1)
            signal = fraction * pool.pd * saturation * train[..., list(spec.images)]
            (fat if pool.fat else water)[TISSUE_INDEX[name]] += signal
    return water, fat


def _grid(spec: Preset, centre: np.ndarray) -> Volume:
    """The sagittal grid: rows inferior, columns posterior, slices toward the patient's
    right (the normal of those rows and columns, as DICOM readers order slices)."""
    pixel = spec.fov_mm / spec.matrix
    step = spec.slice_thickness + spec.slice_gap
    affine = np.eye(4)
    affine[:3, 0] = [-step, 0.0, 0.0]
    affine[:3, 1] = [0.0, 0.0, -pixel]
    affine[:3, 2] = [0.0, pixel, 0.0]
    middle = np.array([(spec.slices - 1) / 2, (spec.matrix - 1) / 2, (spec.matrix - 1) / 2])
    affine[:3, 3] = centre - affine[:3, :3] @ middle
    return Volume(np.zeros((spec.slices, spec.matrix, spec.matrix), np.uint8), affine)


def _fine_shape(spec: Preset) -> tuple[int, int]:
    return tuple(int(np.ceil(spec.oversample * a)) for a in spec.acquired)  # type: ignore[return-value]


def _plane_points(grid: Volume, k: int, offset_mm: float, shape: tuple[int, int]) -> np.ndarray:
    """LPS centres of a ``shape`` pixel grid covering slice ``k``'s field of view, moved
    ``offset_mm`` along the slice normal."""
    rows, columns = grid.shape[1:]
    r = (np.arange(shape[0]) + 0.5) * rows / shape[0] - 0.5
    c = (np.arange(shape[1]) + 0.5) * columns / shape[1] - 0.5
    step = np.linalg.norm(grid.affine[:3, 0])
    index = np.stack(np.meshgrid([k + offset_mm / step], r, c, indexing="ij"), -1)[0]
    return grid.index_to_patient(index)
