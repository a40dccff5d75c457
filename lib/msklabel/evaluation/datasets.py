"""Datasets of an evaluation: cases (echoes, a reference label map, strata), loaded by name.

Every dataset lists its case names cheaply (:meth:`Dataset.case_names`) and loads one case
on demand (:meth:`Dataset.load`), so that a re-run whose results are cached reads nothing.
Reference label maps are converted to :class:`~msklabel.labels.KneeLabel` values through the
dataset's ``labels`` mapping (structure key -> value in the dataset's files).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from msklabel.dicomweb import DicomWebAuth, MissingSecret, dicomweb_client, refused_login
from msklabel.errors import InputError
from msklabel.io.acquisition import Laterality
from msklabel.labels import KneeLabel
from msklabel.volume import Volume

if TYPE_CHECKING:
    from dicomweb_client.api import DICOMwebClient

#: Strata every case has (None where unknown), in table order; datasets may add their own.
STRATA = (
    "dataset",
    "preset",
    "modality",
    "scanning_sequence",
    "sequence_variant",
    "mr_acquisition_type",
    "echo_times_ms",
    "field_strength_t",
    "manufacturer",
    "institution",
)
#: DICOM keywords of the header strata.
_HEADER_KEYWORDS = {
    "modality": "Modality",
    "scanning_sequence": "ScanningSequence",
    "sequence_variant": "SequenceVariant",
    "mr_acquisition_type": "MRAcquisitionType",
    "field_strength_t": "MagneticFieldStrength",
    "manufacturer": "Manufacturer",
    "institution": "InstitutionName",
}

Stratum = str | float | None
_NIFTI = (".nii.gz", ".nii")


@dataclass(frozen=True)
class Case:
    """One study: its echoes (on one grid; the first is the image that is segmented), the
    reference label map (KneeLabel values), its strata and which knee it is where a generator
    knows it (None: the echoes' headers say, if anything)."""

    dataset: str
    name: str
    echoes: tuple[Volume, ...]
    reference: Volume
    strata: Mapping[str, Stratum]
    laterality: Laterality | None = None

    @property
    def image(self) -> Volume:
        return self.echoes[0]


@dataclass(frozen=True, kw_only=True)
class Dataset(ABC):
    """A named set of cases; ``strata`` are columns the user gives every case of it."""

    name: str
    strata: Mapping[str, Stratum] = field(default_factory=dict)

    @abstractmethod
    def case_names(self) -> list[str]:
        """Names of the cases, without reading them."""

    @abstractmethod
    def load(self, name: str) -> Case:
        """Read (or generate) case ``name``."""

    def fingerprint(self) -> str:
        """A digest of what the cases' contents depend on: results cached under another one
        are stale. Which cases there are (``seeds``), the user's ``strata`` and how to log in
        (``auth``) are left out, so that adding a case or a column reuses the cases cached
        already."""
        fields = {k: v for k, v in asdict(self).items() if k not in ("seeds", "strata", "auth")}
        return digest({"kind": type(self).__name__, **fields})

    def _case(
        self,
        name: str,
        echoes: list[Volume],
        reference: Volume,
        found: dict,
        laterality: Laterality | None = None,
    ) -> Case:
        strata = {key: None for key in STRATA} | found | {"dataset": self.name, **self.strata}
        return Case(self.name, name, tuple(echoes), reference, strata, laterality)


@dataclass(frozen=True, kw_only=True)
class PhantomDataset(Dataset):
    """Analytic phantoms (:mod:`msklabel.data.phantom`), one per seed; ``config`` holds
    :class:`~msklabel.data.phantom.PhantomConfig` fields other than the seed."""

    seeds: tuple[int, ...]
    config: Mapping[str, Any] = field(default_factory=dict)

    def case_names(self) -> list[str]:
        return [f"seed-{seed}" for seed in self.seeds]

    def load(self, name: str) -> Case:
        from msklabel.data.phantom import SEQUENCES, PhantomConfig, make_phantom

        phantom = make_phantom(PhantomConfig(seed=_seed(name), **self.config))
        sequence = SEQUENCES[phantom.config.sequence]
        found = {  # the header save_phantom gives the same phantom
            "preset": f"phantom {phantom.config.orientation}",
            "modality": "MR",
            "scanning_sequence": sequence.scanning_sequence,
            "sequence_variant": sequence.sequence_variant,
            "mr_acquisition_type": sequence.acquisition_type,
            "echo_times_ms": _echo_times(phantom.echoes),
            "field_strength_t": 3.0,
            "manufacturer": "msklabel",
        }
        return self._case(name, list(phantom.echoes), phantom.labels, found, "right")


@dataclass(frozen=True, kw_only=True)
class SimulationDataset(Dataset):
    """Held-out MR simulations (:func:`msklabel.data.simulation.simulate_study`) of one
    preset, one per seed, optionally made smaller (``slices``, ``matrix``, ``echoes``)."""

    preset: str
    seeds: tuple[int, ...]
    slices: int | None = None
    matrix: int | None = None
    echoes: int | None = None

    def case_names(self) -> list[str]:
        return [f"seed-{seed}" for seed in self.seeds]

    def load(self, name: str) -> Case:
        from msklabel.data.simulation import simulate_study

        study = simulate_study(
            self.preset, _seed(name), slices=self.slices, matrix=self.matrix, echoes=self.echoes
        )
        found = {  # the header write_study gives the same study
            "preset": self.preset,
            "modality": "MR",
            "scanning_sequence": "SE",
            "sequence_variant": "NONE",
            "mr_acquisition_type": "2D",
            "echo_times_ms": _echo_times(study.echoes),
            "field_strength_t": study.preset.field_t,
            "manufacturer": "msklabel",
        }
        return self._case(name, list(study.echoes), study.truth, found, "left")


@dataclass(frozen=True, kw_only=True)
class NiftiDataset(Dataset):
    """A folder with ``image_dir/<case>.nii[.gz]`` and the reference ``label_dir/<case>.nii[.gz]``
    on the same grid; ``labels`` maps structure keys to the values in the reference files
    (default: KneeLabel values)."""

    path: Path
    image_dir: str = "images"
    label_dir: str = "labels"
    labels: Mapping[str, int] | None = None

    def case_names(self) -> list[str]:
        folder = self.path / self.image_dir
        if not folder.is_dir():
            raise InputError(folder, f"dataset {self.name!r}: no such folder")
        names = sorted(_stem(p) for p in folder.iterdir() if _stem(p) != p.name)
        if not names:
            raise InputError(folder, f"dataset {self.name!r}: no NIfTI images")
        return names

    def load(self, name: str) -> Case:
        from msklabel.io.nifti import read_nifti
        from msklabel.results.study import read_labels

        image = read_nifti(_nifti(self.path / self.image_dir, name))
        reference_path = _nifti(self.path / self.label_dir, name)
        reference = _to_knee(read_labels(reference_path, image), self.labels, reference_path)
        return self._case(name, [image], reference, {"echo_times_ms": _echo_times([image])})


@dataclass(frozen=True, kw_only=True)
class MonaiLabelDataset(NiftiDataset):
    """A MONAI Label local datastore (the folder ``monailabel start_server --studies`` names):
    its NIfTI images that annotators have saved a final label for (``labels/final/``)."""

    image_dir: str = "."
    label_dir: str = "labels/final"

    def case_names(self) -> list[str]:
        labelled = [
            name
            for name in super().case_names()
            if any((self.path / self.label_dir / f"{name}{s}").is_file() for s in _NIFTI)
        ]
        if not labelled:
            raise InputError(self.path, f"dataset {self.name!r}: no image has a final label")
        return labelled


@dataclass(frozen=True, kw_only=True)
class DicomDataset(Dataset):
    """A folder with one sub-folder per case, holding the DICOM series (``series``, one series,
    any number of echoes) and the reference label map ``reference``: a NIfTI on the series'
    grid or a DICOM-SEG of the series (its first echo). The layout
    :func:`msklabel.data.simulation.write_study` writes is the default."""

    path: Path
    series: str = "dicom"
    reference: str = "truth.nii.gz"
    labels: Mapping[str, int] | None = None

    def case_names(self) -> list[str]:
        if not self.path.is_dir():
            raise InputError(self.path, f"dataset {self.name!r}: no such folder")
        names = sorted(p.name for p in self.path.iterdir() if (p / self.series).is_dir())
        if not names:
            raise InputError(
                self.path, f"dataset {self.name!r}: no case folder with {self.series}/"
            )
        return names

    def load(self, name: str) -> Case:
        from msklabel.io import read_echoes
        from msklabel.results.study import read_labels

        folder = self.path / name
        echoes = read_echoes(folder / self.series)
        reference_path = folder / self.reference
        if not reference_path.is_file():
            raise InputError(reference_path, f"dataset {self.name!r}: no reference label map")
        reference = _to_knee(read_labels(reference_path, echoes[0]), self.labels, reference_path)
        found = header_strata(echoes[0]) | {"echo_times_ms": _echo_times(echoes)}
        return self._case(name, echoes, reference, found)


@dataclass(frozen=True, kw_only=True)
class DicomWebDataset(Dataset):
    """The studies of a DICOMweb server (QIDO-RS and WADO-RS at ``url``) that hold a DICOM-SEG:
    one case per study, named by its Study Instance UID, whose reference is the SEG and whose
    image is the series the SEG segments (all its echoes). The study has to hold exactly one
    SEG. Retrieved files are kept in a temporary folder of this process (removed when it
    ends), where the detector reads e.g. the laterality from their headers. ``auth`` says how
    to log in (its secret is read from the environment when the server is asked)."""

    url: str
    auth: DicomWebAuth = field(default_factory=DicomWebAuth)

    def case_names(self) -> list[str]:
        found = self._search({"Modality": "SEG"})
        names = sorted({_value(item, "StudyInstanceUID") for item in found})
        if not names:
            raise InputError(self.url, f"dataset {self.name!r}: no study with a DICOM-SEG")
        return names

    def load(self, name: str) -> Case:
        from msklabel.io import read_echoes
        from msklabel.results.study import read_labels

        where = f"{self.url} study {name}"
        segs = self._search({"Modality": "SEG"}, study=name)
        if len(segs) != 1:
            raise InputError(where, f"dataset {self.name!r}: {len(segs)} SEG series, need one")
        client = self._client()
        seg_series = _value(segs[0], "SeriesInstanceUID")
        with self._asking("retrieval"):
            seg = client.retrieve_series(name, seg_series)
        if len(seg) != 1:
            raise InputError(where, f"SEG series {seg_series}: {len(seg)} instances, need one")
        (referenced,) = {item.SeriesInstanceUID for item in seg[0].ReferencedSeriesSequence}
        folder = Path(tempfile.mkdtemp(prefix=f"{_safe_uid(name)}-", dir=_download_folder()))
        with self._asking("retrieval"):
            series = client.retrieve_series(name, referenced)
        for number, dataset in enumerate(series):
            dataset.save_as(folder / f"{number:05d}.dcm", enforce_file_format=True)
        seg_path = folder / "reference.seg.dcm"
        seg[0].save_as(seg_path, enforce_file_format=True)
        echoes = read_echoes([p for p in sorted(folder.glob("*.dcm")) if p != seg_path])
        reference = read_labels(seg_path, echoes[0])
        found = header_strata(echoes[0]) | {"echo_times_ms": _echo_times(echoes)}
        return self._case(name, echoes, reference, found)

    def _client(self) -> DICOMwebClient:
        try:
            return dicomweb_client(self.url, self.auth)
        except MissingSecret as error:
            raise InputError(self.url, f"dataset {self.name!r}: {error} (it holds the "
                                       "DICOMweb login's secret)") from None  # fmt: skip

    def _search(self, filters: dict[str, str], study: str | None = None) -> list[dict]:
        """Series matching ``filters`` (in ``study``), as DICOM JSON."""
        client = self._client()
        with self._asking("search"):
            return client.search_for_series(study_instance_uid=study, search_filters=filters)

    @contextmanager
    def _asking(self, what: str) -> Iterator[None]:
        """Turns a failed request into an :class:`InputError` naming the dataset (and, for
        a refused login, which login was refused)."""
        import requests

        try:
            yield
        except requests.RequestException as error:
            reason = refused_login(error, self.auth) or f"DICOMweb {what} failed ({error})"
            raise InputError(self.url, f"dataset {self.name!r}: {reason}") from None


def restricted(labels: Volume, structures: Sequence[int]) -> Volume:
    """``labels`` with every value but ``structures`` set to 0."""
    array = np.asarray(labels.array)
    return labels.with_array(np.where(np.isin(array, structures), array, 0).astype(array.dtype))


def digest(document: Mapping[str, Any]) -> str:
    """A short digest of a JSON-ready document (paths written as text)."""
    text = json.dumps(document, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def header_strata(volume: Volume) -> dict[str, Stratum]:
    """The strata in the DICOM header of ``volume``'s first file (none if it has no file)."""
    if not volume.source_files:
        return {}
    import pydicom

    header = pydicom.dcmread(volume.source_files[0], stop_before_pixels=True)
    found: dict[str, Stratum] = {}
    for key, keyword in _HEADER_KEYWORDS.items():
        value = header.get(keyword)
        if value is None or value == "":
            continue
        if key == "field_strength_t":
            found[key] = float(value)
        else:
            found[key] = (
                "\\".join(value) if isinstance(value, pydicom.multival.MultiValue) else str(value)
            )
    return found


def _value(item: Mapping[str, Any], keyword: str) -> str:
    """A text attribute of a DICOM JSON ``item`` (a QIDO-RS result)."""
    from pydicom.datadict import tag_for_keyword

    return str(item[f"{tag_for_keyword(keyword):08X}"]["Value"][0])


def _safe_uid(uid: str) -> str:
    return uid.replace(".", "_")[-40:]


_downloads: list[tempfile.TemporaryDirectory] = []


def _download_folder() -> str:
    """This process's folder for retrieved DICOM files (removed when the process ends)."""
    if not _downloads:
        _downloads.append(tempfile.TemporaryDirectory(prefix="msklabel-dicomweb-"))
    return _downloads[0].name


def _echo_times(echoes: list[Volume] | tuple[Volume, ...]) -> str | None:
    times = [v.echo_time for v in echoes if v.echo_time is not None]
    return "/".join(f"{t:g}" for t in times) or None


def _seed(name: str) -> int:
    return int(name.removeprefix("seed-"))


def _stem(path: Path) -> str:
    for suffix in _NIFTI:
        if path.name.lower().endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name


def _nifti(folder: Path, name: str) -> Path:
    for suffix in _NIFTI:
        if (folder / f"{name}{suffix}").is_file():
            return folder / f"{name}{suffix}"
    raise InputError(folder, f"no {name}.nii.gz or {name}.nii")


def _to_knee(
    reference: Volume, labels: Mapping[str, int] | None, path: str | os.PathLike[str]
) -> Volume:
    """``reference`` with its values mapped to KneeLabel values (unmapped values become 0)."""
    if labels is None:
        return reference
    array = np.asarray(reference.array)
    out = np.zeros(array.shape, np.uint8)
    for key, value in labels.items():
        out[array == value] = KneeLabel[key.upper()]
    if not out.any():
        raise InputError(path, f"none of the label values {sorted(labels.values())} occurs")
    return reference.with_array(out)
