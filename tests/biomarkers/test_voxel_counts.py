"""The voxels each relaxation value stands on: counted, kept apart from times, round-tripped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msklabel.biomarkers.knee import measure_knee
from msklabel.biomarkers.measurement import Measurement, Measurements
from msklabel.labels import KneeLabel
from msklabel.volume import Volume

PLATE, MUSCLE = KneeLabel.FEMORAL_CARTILAGE, KneeLabel.MUSCLE
#: relaxation -> times (ms): both mono-exponential fits (no CPMG train), fast.
TIMES = {"t2": (10.0, 30.0, 60.0), "t1rho": (0.0, 10.0, 40.0, 80.0)}


def _study(
    slices: slice, spacing: tuple[float, float, float], times: tuple[float, ...]
) -> tuple[Volume, list[Volume], np.ndarray]:
    """A plate (``slices`` along the first axis) and a muscle block in Rician noise, their
    signal decaying with a 40 ms time constant but at the ``dead`` voxels (no signal,
    so never fitted); returns the labels, the echoes and ``dead``."""
    affine = np.diag([*spacing, 1.0])
    array = np.zeros((10, 20, 20), np.uint8)
    array[slices, 2:14, 2:14] = PLATE
    array[1:9, 2:14, 16:19] = MUSCLE
    dead = np.zeros(array.shape, bool)
    dead[slices.start + 1, 5, 5:9] = True  # interior of the thick plate, surface of the thin
    dead[slices.start, 2, 2] = True  # a corner
    amplitude = np.where((array > 0) & ~dead, 400.0, 0.0)
    rng = np.random.default_rng(7)
    echoes = []
    for t in times:
        signal = amplitude * np.exp(-t / 40.0)
        noisy = np.hypot(signal + rng.normal(0, 2, array.shape), rng.normal(0, 2, array.shape))
        echoes.append(Volume(array=noisy.astype(np.float32), affine=affine))
    return Volume(array=array, affine=affine), echoes, dead


def _interior(mask: np.ndarray, axes: tuple[int, ...] = (0, 1, 2)) -> np.ndarray:
    """The voxels of ``mask`` whose face neighbours along ``axes`` are in it, by shifting."""
    padded = np.pad(mask, 1)
    core = padded[1:-1, 1:-1, 1:-1].copy()
    for axis in axes:
        for step in (-1, 1):
            core &= np.roll(padded, step, axis)[1:-1, 1:-1, 1:-1]
    return core


@pytest.mark.parametrize("relaxation", sorted(TIMES))
def test_counts_are_the_interior_fitted_voxels(relaxation: str) -> None:
    labels, echoes, dead = _study(slice(2, 8), (1.0, 1.0, 1.0), TIMES[relaxation])
    result = measure_knee(labels, echoes=echoes, relaxation=relaxation, times=TIMES[relaxation])
    m, array = result.measurements, np.asarray(labels.array)
    fitted = result.relaxation.valid
    assert np.array_equal(fitted[array > 0], ~dead[array > 0])  # every live voxel fits
    for structure in (PLATE, MUSCLE):
        mask = array == structure
        used = (_interior(mask) & ~dead).sum()
        assert m.get(structure.key, f"{relaxation}_voxels", "count") == used
        assert m.get(structure.key, "voxels", "count") == mask.sum()
    assert m.get(PLATE.key, f"{relaxation}_voxels", "count") == 4 * 10 * 10 - 4
    assert m.get(MUSCLE.key, f"{relaxation}_voxels", "count") == 6 * 10 * 1
    other = {"t2": "t1rho", "t1rho": "t2"}[relaxation]
    assert not any(row.quantity == f"{other}_voxels" for row in m)


def test_a_plate_on_thick_slices_is_eroded_in_plane_only() -> None:
    """On 3 mm slices of 0.5 mm pixels the interior asks for no neighbour across slices:
    two slices keep their in-plane interior (the sample's patellar cartilage kept 31 of 826
    voxels when it did)."""
    labels, echoes, dead = _study(slice(4, 6), (3.0, 0.5, 0.5), TIMES["t2"])
    m = measure_knee(labels, echoes=echoes, times=TIMES["t2"]).measurements
    plate = np.asarray(labels.array) == PLATE
    assert not _interior(plate).any()
    in_plane = _interior(plate, axes=(1, 2))
    assert m.get(PLATE.key, "voxels", "count") == plate.sum() == 2 * 12 * 12
    assert m.get(PLATE.key, "t2_voxels", "count") == (in_plane & ~dead).sum() == 200 - 4


def test_a_thin_plate_falls_back_on_all_its_fitted_voxels() -> None:
    """One slice of 1 mm voxels has no interior: the statistics (and the
    count) fall back on the whole plate, less the voxels without a fit."""
    labels, echoes, dead = _study(slice(4, 5), (1.0, 1.0, 1.0), TIMES["t2"])
    m = measure_knee(labels, echoes=echoes, times=TIMES["t2"]).measurements
    plate = np.asarray(labels.array) == PLATE
    assert not _interior(plate).any()
    assert m.get(PLATE.key, "t2_voxels", "count") == (plate & ~dead).sum() == 144 - 1


def test_counts_are_not_times() -> None:
    """A count has the unit {voxels} and the derivation "count", and only a count has."""
    count = Measurement(PLATE.key, "t2_voxels", 24, "count")
    assert count.unit == "{voxels}" and Measurement(PLATE.key, "voxels", 802, "count")
    for bad in (
        (PLATE.key, "t2", 24.0, "count"),
        (PLATE.key, "t2_voxels", 24.0, None),
        (PLATE.key, "voxels", 24.0, "mean"),
    ):
        with pytest.raises(ValueError, match="'count' is the derivation"):
            Measurement(*bad)
    for value in (2.5, -1.0):
        with pytest.raises(ValueError, match="not a count"):
            Measurement(PLATE.key, "voxels", value, "count")


def test_counts_round_trip_through_json() -> None:
    written = Measurements([
        Measurement(PLATE.key, "t2", 41.5, "mean"),
        Measurement(PLATE.key, "t2_voxels", 24, "count"),
        Measurement(PLATE.key, "voxels", 802, "count"),
        Measurement(PLATE.key, "t2", 40.0, "mean", "cMF"),
        Measurement(PLATE.key, "t2_voxels", 7, "count", "cMF"),
    ])  # fmt: skip
    text = json.dumps(written.to_json())
    rows = json.loads(text)["measurements"]
    assert rows[1] == {"structure": PLATE.key, "quantity": "t2_voxels", "value": 24,
                       "derivation": "count", "region": None, "unit": "{voxels}"}  # fmt: skip
    assert '"value": 802,' in text  # an integer, not 802.0
    read = Measurements.from_json(json.loads(text))
    assert list(read) == list(written)
    assert read.get(PLATE.key, "t2_voxels", "count", "cMF") == 7


def test_a_biomarkers_json_without_counts_still_reads() -> None:
    old = {"source": {}, "measurements": [{"structure": PLATE.key, "quantity": "t2",
           "value": 41.5, "derivation": "mean", "region": None, "unit": "ms"}]}  # fmt: skip
    assert list(Measurements.from_json(old)) == [Measurement(PLATE.key, "t2", 41.5, "mean")]


@pytest.mark.slow
def test_region_counts_partition_the_plate(measured_phantom) -> None:
    """Every voxel of a plate lies in one region: the regions' counts add up to the plate's."""
    phantom, result = measured_phantom
    m, array = result.measurements, np.asarray(phantom.labels.array)
    assert result.regions
    for plate in result.regions:
        used = m.get(plate.key, "t2_voxels", "count")
        assert 0 < used <= m.get(plate.key, "voxels", "count") == (array == plate).sum()
        regions = [row for row in m if row.structure == plate.key and row.region is not None]
        counts = {row.region: row.value for row in regions if row.quantity == "t2_voxels"}
        assert set(counts) == {row.region for row in regions if row.quantity == "t2"}
        assert sum(counts.values()) == used
