"""Run a plan: every case x model x prompt mode, each result cached on disk.

The cache lives in ``OUT/cache/<dataset>-<definition digest>/<case>/``: ``reference-*.json``
(the case's strata and the biomarkers of its reference) and one ``<model>_<mode>-*.json``
per configuration (metrics, run time, memory, biomarkers of the prediction, and per-slice
voxel counts where the plan asks for them). The digests cover everything the result depends
on (dataset definition, weights file, prompt mode, structures, tolerance, per-slice scores),
so a changed plan recomputes what it changed and a re-run of the same plan only computes what
is missing. A case that fails is reported and not cached.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from msklabel.device import resolve_device
from msklabel.evaluation.datasets import STRATA, Case, Dataset, digest, restricted
from msklabel.evaluation.metrics import (
    dice,
    hd95,
    iou,
    slice_counts,
    surface_dice,
    volume_difference,
)
from msklabel.evaluation.models import ModelSpec, Predictor
from msklabel.evaluation.plan import Plan, load_plan
from msklabel.evaluation.prompts import PromptMode
from msklabel.evaluation.usage import track_usage
from msklabel.volume import Volume

if TYPE_CHECKING:
    from dask.distributed import Client

log = logging.getLogger(__name__)

#: Biomarker statistics compared: the value itself (volumes, areas) and means.
DERIVATIONS = (None, "mean")
#: Columns of the per-structure table before the strata.
CASE_COLUMNS = (
    "dataset", "case", "model", "prompt", "structure", "dice", "iou", "surface_dice", "hd95_mm",
    "volume_difference_mm3", "reference_volume_mm3", "seconds", "peak_rss_mib", "peak_gpu_mib",
)  # fmt: skip
#: Columns of the per-slice table (plans with ``per_slice``), before the strata.
SLICE_COLUMNS = (
    "dataset", "case", "model", "prompt", "structure", "slice", "dice", "reference_voxels",
    "predicted_voxels",
)  # fmt: skip
BIOMARKER_COLUMNS = (
    "dataset", "case", "model", "prompt", "structure", "quantity", "derivation", "region",
    "predicted", "reference",
)  # fmt: skip


@dataclass(frozen=True)
class Configuration:
    """One model in one prompt mode."""

    model: ModelSpec
    mode: PromptMode

    def cache_name(self, plan: Plan) -> str:
        settings = {
            **self.model.fingerprint(self.mode),
            "structures": [int(s) for s in plan.structures],
            "tolerance": plan.surface_tolerance_mm,
            "biomarkers": plan.biomarkers,
        }
        if plan.per_slice:  # only when asked: results cached without it stay valid
            settings["per_slice"] = True
        return f"{_safe(self.model.name)}_{_safe(str(self.mode))}-{digest(settings)}.json"


@dataclass(frozen=True)
class Outcome:
    """The record of one case x configuration and how it came: ``computed``, ``reused``
    (from the cache) or ``failed`` (its ``error`` says why)."""

    record: dict[str, Any]
    status: Literal["computed", "reused", "failed"]


@dataclass
class EvaluationResult:
    """The tables, the summary and where they were written; ``computed`` and ``reused``
    count case x configuration results made in this run and read from the cache;
    ``slices`` is the per-slice table (None unless the plan asks for it)."""

    cases: pd.DataFrame
    biomarkers: pd.DataFrame
    summary: dict[str, Any]
    paths: dict[str, Path]
    computed: int = 0
    reused: int = 0
    errors: list[str] = field(default_factory=list)
    slices: pd.DataFrame | None = None


class Evaluator:
    """Evaluates a :class:`Plan` into ``out``; :meth:`run` does what the cache lacks (here,
    or as Dask tasks on a cluster) and writes the tables, ``summary.json`` and
    ``report.html``."""

    def __init__(
        self,
        plan: Plan,
        out: str | os.PathLike[str],
        progress: bool = True,
        device: str | torch.device = "auto",
    ) -> None:
        self.plan = plan
        self.out = Path(out)
        self.progress = progress
        self.device = str(device)
        resolve_device(device)  # a device this machine cannot use fails before any work

    @property
    def configurations(self) -> list[Configuration]:
        return [Configuration(model, mode) for model in self.plan.models for mode in model.prompts]

    def run(self, client: Client | None = None) -> EvaluationResult:
        """Evaluate every case x configuration: in this process, or with a Dask ``client``
        one task per case x configuration (see :mod:`msklabel.evaluation.cluster`)."""
        from msklabel.evaluation.report import write_report
        from msklabel.evaluation.summary import summarise

        cases = [(dataset, name) for dataset in self.plan.datasets for name in dataset.case_names()]
        result = EvaluationResult(pd.DataFrame(), pd.DataFrame(), {}, {})
        total = len(cases) * len(self.configurations)
        with tqdm(total=total, desc="evaluating", unit="result", disable=not self.progress) as bar:
            if client is None:
                outcomes = self._run_here(cases, bar)
            else:
                from msklabel.evaluation.cluster import run_on_cluster

                outcomes = run_on_cluster(self, cases, client, bar)
        records = []
        for outcome in outcomes:
            records.append(outcome.record)
            if outcome.status == "computed":
                result.computed += 1
            elif outcome.status == "reused":
                result.reused += 1
            else:
                record = outcome.record
                result.errors.append(f"{record['dataset']}/{record['case']} {record['model']} "
                                     f"{record['prompt']}: {record['error']}")  # fmt: skip
        strata = [*STRATA, *sorted({k for d in self.plan.datasets for k in d.strata} - set(STRATA))]
        result.cases = _case_table(records, strata)
        result.biomarkers = _biomarker_table(records, strata)
        result.summary = summarise(result.cases, result.biomarkers, strata)
        result.summary["run"] = {"plan": self.plan.source, "computed": result.computed,
                                 "reused": result.reused, "errors": result.errors}  # fmt: skip
        tables = {"cases": result.cases, "biomarkers": result.biomarkers}
        if self.plan.per_slice:
            result.slices = tables["per_slice"] = _slice_table(records, strata)
        result.paths = write_tables(tables, self.out)
        result.paths["summary"] = _write_json(self.out / "summary.json", result.summary)
        result.paths["report"] = write_report(self.out, result.cases, result.biomarkers,
                                              result.summary)  # fmt: skip
        for error in result.errors:
            log.warning("failed: %s", error)
        return result

    def _run_here(self, cases: list[tuple[Dataset, str]], bar: tqdm) -> list[Outcome]:
        """Every case x configuration in this process, each case read at most once."""
        device = resolve_device(self.device)
        predictors = {model.name: Predictor(model, device) for model in self.plan.models}
        outcomes = []
        for dataset, name in cases:
            case = _LazyCase(dataset, name, bar)
            reference = self.reference(dataset, name, case.get)
            for configuration in self.configurations:
                model, mode = configuration.model.name, configuration.mode
                bar.set_postfix_str(f"{dataset.name}/{name} {model} {mode}")
                outcome = self.result(dataset, name, configuration, case.get, predictors[model])
                outcomes.append(self.completed(dataset, name, configuration, outcome, reference))
                bar.update()
        return outcomes

    def _case_folder(self, dataset: Dataset, name: str) -> Path:
        """Where the results of case ``name`` of ``dataset`` are cached."""
        return self.out / "cache" / f"{_safe(dataset.name)}-{dataset.fingerprint()}" / name

    def reference(self, dataset: Dataset, name: str, load: Callable[[], Case]) -> dict[str, Any]:
        """The case's strata and the biomarkers of its reference, from the cache or measured
        now (the case from ``load``); like the predictions, the reference keeps only the
        plan's structures (a region subdivision needs e.g. both tibial plates)."""
        structures = [int(s) for s in self.plan.structures]
        settings = {"structures": structures, "biomarkers": self.plan.biomarkers}
        path = self._case_folder(dataset, name) / f"reference-{digest(settings)}.json"
        if path.is_file():
            return json.loads(path.read_text())
        loaded = load()
        record = {
            "strata": dict(loaded.strata),
            "volumes_mm3": {
                _key(s): float((loaded.reference.array == s).sum()) * loaded.image.voxel_volume
                for s in self.plan.structures
            },
            "biomarkers": self._biomarkers(restricted(loaded.reference, structures), loaded.echoes),
        }
        _write_json(path, record)
        return record

    def result(
        self,
        dataset: Dataset,
        name: str,
        configuration: Configuration,
        load: Callable[[], Case],
        predictor: Predictor,
    ) -> Outcome:
        """The result of ``configuration`` on a case: cached, or computed now (the case from
        ``load``) and cached unless it failed."""
        cached = self.cached(dataset, name, configuration)
        if cached is not None:
            return cached
        record = self._evaluate(load(), predictor, configuration.mode)
        if record["error"] is not None:
            return Outcome(record, "failed")
        _write_json(self._result_path(dataset, name, configuration), record)
        return Outcome(record, "computed")

    def cached(self, dataset: Dataset, name: str, configuration: Configuration) -> Outcome | None:
        """The cached result of ``configuration`` on a case, if there is one."""
        path = self._result_path(dataset, name, configuration)
        return Outcome(json.loads(path.read_text()), "reused") if path.is_file() else None

    def _result_path(self, dataset: Dataset, name: str, configuration: Configuration) -> Path:
        return self._case_folder(dataset, name) / configuration.cache_name(self.plan)

    def completed(
        self,
        dataset: Dataset,
        name: str,
        configuration: Configuration,
        outcome: Outcome,
        reference: dict[str, Any],
    ) -> Outcome:
        """``outcome`` with the case, the configuration, the reference and the strata
        added to its record: a row source of the tables."""
        info = {"dataset": dataset.name, "case": name, "model": configuration.model.name,
                "prompt": str(configuration.mode)}  # fmt: skip
        strata = {**reference["strata"], "dataset": dataset.name, **dataset.strata}
        record = {**info, **outcome.record, "reference": reference, "strata": strata}
        return Outcome(record, outcome.status)

    def _evaluate(self, case: Case, predictor: Predictor, mode: PromptMode) -> dict[str, Any]:
        """Segment ``case`` and score every structure the reference holds."""
        structures = [int(s) for s in self.plan.structures]
        try:
            with track_usage() as usage:
                predicted = predictor.predict(case, mode, structures)
            biomarkers = self._biomarkers(predicted.labels, case.echoes)
        except (ValueError, RuntimeError) as error:
            return {"error": f"{type(error).__name__}: {error}"}
        labels, reference = np.asarray(predicted.labels.array), np.asarray(case.reference.array)
        spacing, voxel = case.image.spacing, case.image.voxel_volume
        scores, slices = {}, {}
        for structure in self.plan.structures:
            a, b = labels == structure, reference == structure
            if not b.any():
                continue
            if self.plan.per_slice:
                slices[_key(structure)] = slice_counts(a, b)
            scores[_key(structure)] = {
                "dice": dice(a, b),
                "iou": iou(a, b),
                "surface_dice": surface_dice(a, b, spacing, self.plan.surface_tolerance_mm),
                "hd95_mm": hd95(a, b, spacing),
                "volume_difference_mm3": volume_difference(a, b, voxel),
            }
        return {
            "error": None,
            "seconds": usage.seconds,
            "peak_rss_mib": usage.peak_rss_mib,
            "peak_gpu_mib": usage.peak_gpu_mib,
            "structures": scores,
            "biomarkers": biomarkers,
            **({"slices": slices} if self.plan.per_slice else {}),
        }

    def _biomarkers(self, labels: Volume, echoes: Sequence[Volume]) -> dict[str, float]:
        """The biomarkers ``msklabel measure`` reports for ``labels`` (T2 from 2 or more
        echoes), of the plan's structures; their values and means only."""
        if not self.plan.biomarkers:
            return {}
        from msklabel.biomarkers.knee import measure_knee

        wanted = {_key(s) for s in self.plan.structures}
        measured = measure_knee(labels, echoes=echoes if len(echoes) >= 2 else ())
        return {
            "|".join((m.structure, m.quantity, m.derivation or "", m.region or "")): m.value
            for m in measured.measurements
            if m.structure in wanted and m.derivation in DERIVATIONS
        }


class _LazyCase:
    """A case read on the first :meth:`get` (never, when every result is cached)."""

    def __init__(self, dataset: Dataset, name: str, bar: tqdm) -> None:
        self.dataset, self.name, self.bar = dataset, name, bar
        self._case: Case | None = None

    def get(self) -> Case:
        if self._case is None:
            self.bar.set_postfix_str(f"loading {self.dataset.name}/{self.name}")
            self._case = self.dataset.load(self.name)
        return self._case


def evaluate(
    plan: Plan | str | os.PathLike[str],
    out: str | os.PathLike[str],
    progress: bool = True,
    client: Client | None = None,
    device: str | torch.device = "auto",
) -> EvaluationResult:
    """Run ``plan`` (a :class:`Plan` or the path of a TOML plan) into the folder ``out``,
    in this process or on the Dask cluster of ``client``, the models on ``device`` (on a
    cluster, each worker resolves ``device`` itself)."""
    if not isinstance(plan, Plan):
        plan = load_plan(plan)
    return Evaluator(plan, out, progress, device).run(client)


def write_tables(tables: dict[str, pd.DataFrame], out: Path) -> dict[str, Path]:
    """Each table as ``<name>.csv`` in ``out``, and a Parquet copy where pyarrow is
    installed."""
    try:
        import pyarrow  # noqa: F401

        formats = ("csv", "parquet")
    except ImportError:
        formats = ("csv",)
    paths = {}
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        for suffix in formats:
            path = out / f"{name}.{suffix}"
            if suffix == "csv":
                table.to_csv(path, index=False)
            else:
                table.to_parquet(path, index=False)
            paths[f"{name}.{suffix}"] = path
    return paths


def _case_table(records: list[dict[str, Any]], strata: list[str]) -> pd.DataFrame:
    rows = []
    for record in records:
        common = {key: record.get(key) for key in ("dataset", "case", "model", "prompt", "seconds",
                                                   "peak_rss_mib", "peak_gpu_mib")}  # fmt: skip
        common |= {key: record["strata"].get(key) for key in strata}
        common["error"] = record["error"]
        volumes = record["reference"]["volumes_mm3"]
        for structure, volume in volumes.items():
            if volume == 0:
                continue
            scores = (record.get("structures") or {}).get(structure, {})
            rows.append(
                {**common, "structure": structure, "reference_volume_mm3": volume, **scores}
            )
    columns = [*CASE_COLUMNS, "error", *[s for s in strata if s != "dataset"]]
    return pd.DataFrame(rows, columns=columns)


def _slice_table(records: list[dict[str, Any]], strata: list[str]) -> pd.DataFrame:
    """One row per case x configuration x structure x slice where the reference or the
    prediction has the structure (slices where both lack it are left out)."""
    rows = []
    for record in records:
        common = {key: record[key] for key in ("dataset", "case", "model", "prompt")}
        common |= {key: record["strata"].get(key) for key in strata}
        for structure, counts in (record.get("slices") or {}).items():
            for index, reference, predicted, overlap in counts:
                rows.append({
                    **common, "structure": structure, "slice": index,
                    "dice": 2 * overlap / (reference + predicted),
                    "reference_voxels": reference, "predicted_voxels": predicted,
                })  # fmt: skip
    columns = [*SLICE_COLUMNS, *[s for s in strata if s != "dataset"]]
    return pd.DataFrame(rows, columns=columns)


def _biomarker_table(records: list[dict[str, Any]], strata: list[str]) -> pd.DataFrame:
    rows = []
    for record in records:
        if record["error"] is not None:
            continue
        reference = record["reference"]["biomarkers"]
        predicted = record["biomarkers"]
        common = {key: record[key] for key in ("dataset", "case", "model", "prompt")}
        common |= {key: record["strata"].get(key) for key in strata}
        for key in sorted(set(reference) | set(predicted)):
            structure, quantity, derivation, region = key.split("|")
            rows.append({
                **common, "structure": structure, "quantity": quantity,
                "derivation": derivation or None, "region": region or None,
                "predicted": predicted.get(key, np.nan), "reference": reference.get(key, np.nan),
            })  # fmt: skip
    columns = [*BIOMARKER_COLUMNS, *[s for s in strata if s != "dataset"]]
    return pd.DataFrame(rows, columns=columns)


def _key(structure: int) -> str:
    from msklabel.labels import KneeLabel

    return KneeLabel(structure).key


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)


def _write_json(path: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` to ``path`` atomically (NaN as null), so that an interrupted run
    never leaves half a result in the cache, and two processes writing it at once (two
    Dask workers on one case) leave one whole copy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(handle, "w") as file:
        file.write(json.dumps(_plain(document), indent=1))
    os.replace(temporary, path)
    return path


def _plain(value: Any) -> Any:
    """``value`` with NaN and infinities as None and numpy scalars as Python ones."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
