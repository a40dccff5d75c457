"""The real sample knee study: pinned, verified, cached, usable offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from msklabel.data import sample as sample_module
from msklabel.data.sample import SampleFiles, fetch_sample
from msklabel.errors import DataUnavailableError
from msklabel.io import read_volumes


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make pip unable to reach any index, as on a machine without network."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")


@pytest.fixture
def private_cache(sample: SampleFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the verified cache that a test may damage."""
    cache = tmp_path / "cache"
    shutil.copytree(sample.root, cache / sample.root.name)
    monkeypatch.setenv("MSKLABEL_CACHE", str(cache))
    return cache / sample.root.name


def test_pinned_manifest_lists_the_series_and_the_label_maps() -> None:
    files = sample_module.manifest()["files"]
    dicoms = [name for name in files if name.startswith("MESE_T2_dicom_data_anon/")]
    assert len(dicoms) == 192
    assert {sample_module.DESS_LABELS, sample_module.RIGHT_KNEE_LABELS} <= set(files)


def test_sample_reads_as_eight_echoes_of_24_sagittal_slices(sample: SampleFiles) -> None:
    volumes = read_volumes(sample.dicom_dir)
    assert len(volumes) == 8
    assert len({v.series_instance_uid for v in volumes}) == 1
    echo_times = [v.echo_time for v in volumes]
    assert echo_times == sorted(echo_times)
    assert echo_times[0] == pytest.approx(6.3, abs=0.05)
    assert echo_times[-1] == pytest.approx(50.5, abs=0.05)
    for volume in volumes:
        assert volume.shape == (24, 256, 256)
        slice_step, row, column = volume.spacing
        assert (row, column) == pytest.approx((0.625, 0.625))
        assert volume.slice_thickness == pytest.approx(3.0)
        # The header's Spacing Between Slices is 4 mm (3 mm slices with a 1 mm gap).
        assert slice_step == pytest.approx(4.0, abs=1e-3)
        # Sagittal: the slice normal runs close to the left-right axis.
        normal = volume.affine[:3, 0] / slice_step
        assert abs(normal[0]) > 0.95  # 8.5 degrees oblique


def test_cached_sample_works_offline(private_cache: Path, offline: None, tmp_path: Path) -> None:
    files = fetch_sample(tmp_path / "copy")
    assert files.dicom_dir == tmp_path / "copy" / "MESE_T2_dicom_data_anon"
    assert len(list(files.dicom_dir.glob("*.dcm"))) == 192
    assert (
        files.dess_labels.stat().st_size == (private_cache / files.dess_labels.name).stat().st_size
    )


def test_damaged_cache_is_detected_and_named(private_cache: Path, offline: None) -> None:
    damaged = private_cache / "MESE_T2_dicom_data_anon" / "E3655S8I010.MR.dcm"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    with pytest.raises(
        DataUnavailableError,
        match=r"E3655S8I010.MR.dcm fails its SHA-256 check, and could not download mskt==0.1.22",
    ):
        fetch_sample()
    # The unusable cache is kept for inspection, not silently replaced by partial data.
    assert damaged.exists()
