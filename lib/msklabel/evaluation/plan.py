"""An evaluation plan: datasets, models with their prompt modes, structures; read from TOML.

A plan file (see docs/evaluation.md)::

    structures = ["femur", "tibia", "femoral_cartilage"]
    surface_tolerance_mm = 1.0
    per_slice = true            # also per_slice.csv: Dice and voxel counts per slice

    [[datasets]]
    name = "phantoms"
    kind = "phantom"            # phantom | simulation | nifti | dicom | dicomweb | monailabel
    seeds = [0, 1]
    config = { spacing = [6.0, 1.5, 1.5], echo_times = [10.0, 40.0] }
    strata = { site = "A" }     # columns of your own

    [[models]]
    model = "litemedsam"        # kneeseg | litemedsam | sam | medsam | sam2
    prompts = ["oracle-box", "detector", "clicks:3"]

Every error names the file and the key, e.g. ``plan.toml: datasets[0].seeds: ...``.
Relative paths are relative to the plan file's folder.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msklabel.dicomweb import (
    LOGIN_KEYS,
    AuthSettingError,
    DicomWebAuth,
    MissingSecret,
    auth_from_table,
)
from msklabel.errors import InputError
from msklabel.evaluation.datasets import (
    Dataset,
    DicomDataset,
    DicomWebDataset,
    MonaiLabelDataset,
    NiftiDataset,
    PhantomDataset,
    SimulationDataset,
)
from msklabel.evaluation.models import KINDS as MODEL_KINDS
from msklabel.evaluation.models import ModelSpec
from msklabel.evaluation.prompts import PromptMode
from msklabel.labels import KneeLabel
from msklabel.segment import DEFAULT_RUNTIME, check_model_runtime

#: Dataset kinds and the keys each takes besides ``name``, ``kind`` and ``strata``.
DATASET_KEYS = {
    "phantom": ("seeds", "config"),
    "simulation": ("preset", "seeds", "slices", "matrix", "echoes"),
    "nifti": ("path", "image_dir", "label_dir", "labels"),
    "dicom": ("path", "series", "reference", "labels"),
    "dicomweb": ("url", "user", "password_env", "token_env"),
    "monailabel": ("path", "labels"),
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_REQUIRED = object()


class PlanError(InputError):
    """A plan that cannot be used; the message names the file and the key."""

    def __init__(self, path: str | os.PathLike[str], key: str, reason: str) -> None:
        super().__init__(path, f"{key}: {reason}" if key else reason)
        self.key = key


@dataclass(frozen=True)
class Plan:
    """What to evaluate: every case of ``datasets`` with every model in each of its prompt
    modes, scored on ``structures`` (surface Dice at ``surface_tolerance_mm``); biomarkers
    are compared unless ``biomarkers`` is false, and each slice is scored too when
    ``per_slice`` is true."""

    datasets: tuple[Dataset, ...]
    models: tuple[ModelSpec, ...]
    structures: tuple[KneeLabel, ...]
    surface_tolerance_mm: float = 1.0
    biomarkers: bool = True
    source: str = "<plan>"
    per_slice: bool = False


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read and check the plan in the TOML file ``path``."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "no such plan file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InputError(path, f"not a readable TOML file ({error})") from None
    return plan_from_dict(document, path)


def plan_from_dict(document: Mapping[str, Any], source: str | os.PathLike[str] = "<plan>") -> Plan:
    """Check and build a plan from its parsed TOML ``document``; ``source`` names it in
    errors (relative paths are relative to its folder when it is a file)."""
    top = _Table(document, "", source)
    structures = tuple(
        _structure(value, f"structures[{i}]", source)
        for i, value in enumerate(top.get("structures", list, _REQUIRED))
    )
    if not structures:
        raise PlanError(source, "structures", "name at least one structure")
    tolerance = top.get("surface_tolerance_mm", (int, float), 1.0)
    if tolerance <= 0:
        raise PlanError(source, "surface_tolerance_mm", f"must be > 0, got {tolerance}")
    biomarkers = top.get("biomarkers", bool, True)
    per_slice = top.get("per_slice", bool, False)
    base = Path(source).parent if source != "<plan>" else Path.cwd()
    datasets = tuple(_dataset(table, base) for table in top.tables("datasets"))
    models = tuple(_model(table, base) for table in top.tables("models"))
    top.done()
    for key, names in (
        ("datasets", [d.name for d in datasets]),
        ("models", [m.name for m in models]),
    ):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise PlanError(source, key, f"names must be unique, repeated: {duplicates}")
    return Plan(datasets, models, structures, float(tolerance), biomarkers, str(source), per_slice)


class _Table:
    """A TOML table read key by key; :meth:`done` refuses keys nobody read."""

    def __init__(self, table: Any, where: str, source: str | os.PathLike[str]) -> None:
        if not isinstance(table, Mapping):
            raise PlanError(source, where, f"must be a table, got {table!r}")
        self.table, self.where, self.source, self.read = table, where, source, set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def error(self, name: str, reason: str) -> PlanError:
        return PlanError(self.source, self.key(name), reason)

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.read.add(name)
        if name not in self.table:
            if default is _REQUIRED:
                raise self.error(name, "missing")
            return default
        value = self.table[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            names = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
            raise self.error(name, f"must be {names}, got {value!r}")
        return value

    def integers(self, name: str) -> tuple[int, ...]:
        values = self.get(name, list, _REQUIRED)
        if not values or not all(type(v) is int and v >= 0 for v in values):
            raise self.error(name, f"must be a non-empty list of integers >= 0, got {values!r}")
        return tuple(values)

    def tables(self, name: str) -> list[_Table]:
        values = self.get(name, list, _REQUIRED)
        if not values:
            raise self.error(name, "name at least one")
        return [
            _Table(value, f"{self.key(name)}[{i}]", self.source) for i, value in enumerate(values)
        ]

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.read)
        if unknown:
            raise PlanError(self.source, self.where, f"unknown keys {unknown}")


_TYPE_NAMES = {str: "text", int: "an integer", float: "a number", bool: "true or false",
               list: "a list", dict: "a table"}  # fmt: skip


def _structure(value: Any, key: str, source: str | os.PathLike[str]) -> KneeLabel:
    try:
        return KneeLabel[str(value).upper()]
    except KeyError:
        known = ", ".join(label.key for label in KneeLabel)
        raise PlanError(source, key, f"unknown structure {value!r} (known: {known})") from None


def _dataset(table: _Table, base: Path) -> Dataset:
    name = _name(table)
    kind = table.get("kind", str, _REQUIRED)
    if kind not in DATASET_KEYS:
        raise table.error("kind", f"unknown kind {kind!r} (known: {', '.join(DATASET_KEYS)})")
    strata = table.get("strata", dict, {})
    for key, value in strata.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise table.error(f"strata.{key}", f"must be text or a number, got {value!r}")
    common: dict[str, Any] = {"name": name, "strata": dict(strata)}
    if kind == "phantom":
        dataset: Dataset = _phantom(table, common)
    elif kind == "simulation":
        dataset = _simulation(table, common)
    elif kind == "dicomweb":
        url = table.get("url", str, _REQUIRED)
        if not url.startswith(("http://", "https://")):
            raise table.error("url", f"must be an http(s) URL of a DICOMweb root, got {url!r}")
        dataset = DicomWebDataset(**common, url=url.rstrip("/"), auth=_auth(table))
    else:
        folder = base / table.get("path", str, _REQUIRED)
        labels = _labels(table)
        if kind == "monailabel":
            dataset = MonaiLabelDataset(**common, path=folder, labels=labels)
        elif kind == "nifti":
            dataset = NiftiDataset(
                **common, path=folder, labels=labels,
                image_dir=table.get("image_dir", str, "images"),
                label_dir=table.get("label_dir", str, "labels"),
            )  # fmt: skip
        else:
            dataset = DicomDataset(
                **common, path=folder, labels=labels,
                series=table.get("series", str, "dicom"),
                reference=table.get("reference", str, "truth.nii.gz"),
            )  # fmt: skip
    table.done()
    return dataset


def _phantom(table: _Table, common: dict[str, Any]) -> PhantomDataset:
    from msklabel.data.phantom import PhantomConfig

    config = dict(table.get("config", dict, {}))
    if "seed" in config:
        raise table.error("config.seed", "give the seeds as the dataset's seeds list")
    for key, value in config.items():
        if isinstance(value, list):
            config[key] = tuple(value)
    try:
        PhantomConfig(**config)
    except TypeError as error:
        raise table.error("config", str(error).replace("__init__() ", "")) from None
    except ValueError as error:
        raise table.error("config", str(error)) from None
    return PhantomDataset(**common, seeds=table.integers("seeds"), config=config)


def _simulation(table: _Table, common: dict[str, Any]) -> SimulationDataset:
    from msklabel.data.simulation import PRESETS

    preset = table.get("preset", str, _REQUIRED)
    if preset not in PRESETS:
        raise table.error("preset", f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    sizes = {key: table.get(key, int) for key in ("slices", "matrix", "echoes")}
    try:
        PRESETS[preset].resized(**sizes)
    except ValueError as error:
        raise table.error("preset", str(error)) from None
    return SimulationDataset(**common, preset=preset, seeds=table.integers("seeds"), **sizes)


def _auth(table: _Table) -> DicomWebAuth:
    """The login of a DICOMweb dataset; its secret must be in the environment variable the
    plan names, never in the plan."""
    table.read.update(LOGIN_KEYS)
    try:
        auth = auth_from_table(table.table)
    except AuthSettingError as error:
        raise table.error(error.key, error.reason) from None
    try:
        auth.secret()
    except MissingSecret as error:
        raise table.error(str(auth.variable_key), str(error)) from None
    return auth


def _labels(table: _Table) -> dict[str, int] | None:
    labels = table.get("labels", dict)
    if labels is None:
        return None
    for key, value in labels.items():
        _structure(key, table.key(f"labels.{key}"), table.source)
        if type(value) is not int or value <= 0:
            raise table.error(f"labels.{key}", f"must be a label value >= 1, got {value!r}")
    return dict(labels)


def _model(table: _Table, base: Path) -> ModelSpec:
    model = table.get("model", str, _REQUIRED)
    if model not in MODEL_KINDS:
        raise table.error("model", f"unknown model {model!r} (known: {', '.join(MODEL_KINDS)})")
    name = _name(table, default=model)
    default_prompts = ["automatic"] if model == "kneeseg" else ["oracle-box"]
    prompts = table.get("prompts", list, default_prompts)
    try:
        modes = tuple(PromptMode.parse(str(text)) for text in prompts)
    except ValueError as error:
        raise table.error("prompts", str(error)) from None
    checkpoint = table.get("checkpoint", str)
    path = None if checkpoint is None else base / checkpoint
    if path is not None and not path.is_file():
        raise table.error("checkpoint", f"no such file {path}")
    variant = table.get("variant", str)
    runtime = table.get("runtime", str, DEFAULT_RUNTIME)
    try:
        check_model_runtime(model, runtime)
    except ValueError as error:
        raise table.error("runtime", str(error)) from None
    table.done()
    try:
        return ModelSpec(name, model, modes, path, variant, runtime)
    except ValueError as error:
        raise table.error("prompts", str(error)) from None


def _name(table: _Table, default: Any = _REQUIRED) -> str:
    name = table.get("name", str, default)
    if not _NAME.fullmatch(name):
        raise table.error("name", f"use letters, digits, '_', '.', '-' only, got {name!r}")
    return name
