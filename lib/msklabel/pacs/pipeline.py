"""The arrival-to-results pipeline of one job (one study revision).

Steps (each may be left out in the configuration, see :data:`~msklabel.pacs.config.STEPS`):

``select``
    series selection by the rules; a study with instances kept aside as malformed or in an
    unreadable transfer syntax fails here, naming them; a study nothing matches is skipped.
``segment``
    automatic segmentation of the series (``msklabel.kneeseg``; the model's confidence per
    structure goes to ``confidence.json``, its zoom spread to ``zoom_spread.json``, the
    knee's side and where it came from to ``sides.json``), or a given label map; a series
    that cannot be stacked (e.g. a missing slice) fails here.
``biomarkers``
    knee biomarkers from the label map and every echo, and the quality gate's verdict per
    structure (:mod:`msklabel.biomarkers.quality`, limits from ``[quality]``): a failed
    structure's values are withheld from ``biomarkers.json``'s rows.
``clinical``
    triage and risk models, from the biomarkers and the header's demographics; when one of
    them is missing, or a structure they use failed the quality gate, the models are not
    run and the reason is recorded.
``results``
    DICOM-SEG, TID 1500 SR (with the model results) and the report (PNG, PDF, Secondary
    Capture) in ``<storage>/results/<StudyUID>/job-<id>/results``.
``send``
    the SEG, SR and report to every destination.
``index`` (only when configured, with ``index_dir``)
    the selected series' study embedding (LiteMedSAM's encoder, :mod:`msklabel.features`)
    added to the study index under its Series Instance UID, for ``msklabel similar``.

Every step writes its output into the job folder and is marked done in the status store
with its duration; a re-run (a retry, or a job taken over from a dead worker) skips the
steps already done, and sends only what was not sent yet. Results keep their SOP Instance
UIDs once written, so even a send repeated after a crash stores nothing twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydicom

from msklabel.errors import InputError, MsklabelError
from msklabel.pacs.config import PacsConfig
from msklabel.pacs.header import InstanceHeader
from msklabel.pacs.rules import SeriesSummary, select_series
from msklabel.pacs.status import Job, KeptAside, StatusStore, StoredInstance
from msklabel.volume import Volume

if TYPE_CHECKING:
    from msklabel.kneeseg import KneeSegmentation

logger = logging.getLogger(__name__)

#: Kinds of kept-aside instances that make the study's job fail (a non-image object
#: beside the images does not).
BLOCKING_KINDS = ("malformed", "transfer-syntax")
#: Result files sent to the destinations, in order.
SENT_FILES = ("seg.dcm", "sr.dcm", "report.dcm")


class StepFailed(MsklabelError):
    """A step cannot succeed with this input: the job fails with this message."""


class Skipped(MsklabelError):
    """Nothing in the study is for this pipeline: the job is skipped with this reason."""


@dataclass
class Resources:
    """What a worker loads once and keeps: the clinical models and the study embedder
    (``msklabel.kneeseg`` keeps its network once per process itself)."""

    models: str | tuple[str, ...] = "default"
    _cache: dict[str, Any] = field(default_factory=dict)

    def bundles(self) -> list:
        if "bundles" not in self._cache:
            from msklabel.clinical.bundle import load_bundle, load_default_bundles

            if self.models == "default":
                self._cache["bundles"] = load_default_bundles()
            elif self.models == "none":
                self._cache["bundles"] = []
            else:
                self._cache["bundles"] = [load_bundle(path) for path in self.models]
        return self._cache["bundles"]

    def embedder(self, device: str):
        """The study embedder (packaged LiteMedSAM) on ``device``."""
        key = f"embedder:{device}"
        if key not in self._cache:
            from msklabel.features import load_embedder

            self._cache[key] = load_embedder(device=device)
        return self._cache[key]


def segment_automatic(echoes: list[Volume], device: str = "auto") -> KneeSegmentation:
    """The knee label map of a series (its echoes) with no prompts (``msklabel.kneeseg``, on
    ``device``), with the network's confidence per slice and label and the knee's side."""
    from msklabel.kneeseg import load_segmenter, segment_knee

    return segment_knee(echoes, load_segmenter(device=device), progress=False)


class JobRun:
    """Runs the configured steps of ``job``, recording each in ``status``."""

    def __init__(
        self, config: PacsConfig, status: StatusStore, job: Job, resources: Resources
    ) -> None:
        self.config = config
        self.status = status
        self.job = job
        self.resources = resources
        self.folder = config.storage / "results" / job.study_uid / f"job-{job.id}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._inputs: dict[str, Any] = {}

    def run(self) -> None:
        """Run every configured step not yet done; raises what a step raises."""
        steps: dict[str, Callable[[], str]] = {
            "select": self._select,
            "segment": self._segment,
            "biomarkers": self._biomarkers,
            "clinical": self._clinical,
            "results": self._results,
            "send": self._send,
            "index": self._index,
        }
        for name in self.config.pipeline.steps:
            if self.status.step_state(self.job.id, name) == "done":
                continue
            self.status.step_started(self.job.id, name)
            started = time.monotonic()
            try:
                detail = steps[name]()
            except Exception as error:
                self.status.step_failed(self.job.id, name, time.monotonic() - started, str(error))
                raise
            self.status.step_finished(self.job.id, name, time.monotonic() - started, detail)

    # -- steps ------------------------------------------------------------------------------

    def _select(self) -> str:
        study = self.job.study_uid
        aside = self.status.study_quarantine(study)
        blocking = [row for row in aside if row.kind in BLOCKING_KINDS]
        if blocking:
            raise StepFailed(_aside_message(blocking))
        rows = self.status.study_instances(study)
        if not rows:
            raise StepFailed("no image instances received" + (f"; {_aside_message(aside)}"
                                                             if aside else ""))  # fmt: skip
        series = _summaries(rows)
        selection = select_series(series, self.config.rules)
        if selection.series is None:
            raise Skipped(selection.skipped_reason)
        chosen = selection.series.series_instance_uid
        files = [row.path for row in rows if row.series_uid == chosen]
        _write_json(self.folder / "selection.json", {
            "series_instance_uid": chosen, "rule": selection.rule, "files": files,
            "not_chosen": list(selection.reasons),
        })  # fmt: skip
        return f"series {chosen} by rule {selection.rule!r} ({len(files)} images)"

    def _segment(self) -> str:
        image = self._echoes()[0]
        if self.config.pipeline.segmentation == "labels":
            from msklabel.results.study import read_labels

            path = Path(self.config.pipeline.labels_dir) / f"{image.series_instance_uid}.nii.gz"
            labels = read_labels(path, image)
        else:
            from msklabel.biomarkers.quality import confidence_from_scores

            try:
                segmentation = segment_automatic(self._echoes(), self.config.pipeline.device)
            except ValueError as error:  # e.g. not a sagittal series
                raise StepFailed(f"automatic segmentation: {error}") from None
            labels = segmentation.labels
            confidence = confidence_from_scores(segmentation.scores)
            _write_json(self.folder / "confidence.json", {str(k): v for k, v in confidence.items()})
            spread = {str(k): v for k, v in segmentation.zoom_spread.items()}
            _write_json(self.folder / "zoom_spread.json", spread)
            sides = {"knee": segmentation.sides.laterality, "from": segmentation.sides.source}
            _write_json(self.folder / "sides.json", sides)
        from msklabel.io.nifti import write_nifti

        write_nifti(labels, self.folder / "labels.nii.gz")
        found = sorted({int(v) for v in set(labels.array.ravel().tolist())} - {0})
        return f"labels {found} on {image.shape[0]} slices"

    def _biomarkers(self) -> str:
        from msklabel.biomarkers.knee import measure_knee
        from msklabel.biomarkers.quality import assess_knee, write_biomarkers_json
        from msklabel.io.acquisition import Acquisition

        echoes = self._echoes()
        fitted = echoes if len(echoes) >= 2 else ()
        labels = self._labels()
        result = measure_knee(labels, echoes=fitted)
        quality = assess_knee(
            labels, result, echoes=fitted, image=echoes[0],
            confidence=self._per_label("confidence"), zoom_spread=self._per_label("zoom_spread"),
            rules=self.config.quality,
            acquisition=Acquisition.from_header(self._header()),
            sides_assumed=self._sides_assumed(),
        )  # fmt: skip
        write_biomarkers_json(self.folder / "biomarkers.json", result.measurements, quality)
        self._inputs["measured"] = result  # the results step reuses it in this run
        return f"{len(result.measurements)} measurements; quality: {quality.summary()}"

    def _clinical(self) -> str:
        from msklabel.biomarkers.measurement import Measurements
        from msklabel.pacs.features import (
            clinical_biomarkers,
            header_demographics,
            quality_reasons,
        )

        data = json.loads((self.folder / "biomarkers.json").read_text())
        gate = quality_reasons(data)
        values, missing = clinical_biomarkers(Measurements.from_json(data))
        if gate:  # a failed structure's values were withheld: the gate says why
            missing = [name for name in missing if not _withheld(name, data)]
        demographics, absent = header_demographics(self._header())
        reasons = gate + ([f"biomarkers not measured: {', '.join(missing)}"] if missing else [])
        reasons += absent
        bundles = [] if reasons else self.resources.bundles()
        if not reasons and not bundles:
            reasons.append("no clinical model configured")
        if reasons:
            _write_json(self.folder / "clinical.json", {"not_run": reasons})
            return "models not run: " + "; ".join(reasons)
        from msklabel.clinical.workflow import predict_study

        prediction = predict_study(
            values, bundles, demographics=demographics, study_instance_uid=self.job.study_uid
        )
        _write_json(self.folder / "clinical.json", prediction.to_dict())
        return f"{len(prediction.predictions)} model outputs"

    def _results(self) -> str:
        from msklabel.biomarkers.quality import QualityReport
        from msklabel.io.acquisition import Acquisition
        from msklabel.results.study import measure_study

        echoes = self._echoes()
        path = self.folder / "biomarkers.json"  # absent when that step is left out
        quality = QualityReport.from_json(json.loads(path.read_text())["quality"]) if (
            path.exists()) else None  # fmt: skip
        report = measure_study(
            echoes[0], self._labels(), echoes=echoes, labels_name="automatic segmentation",
            model_results=self._model_results(), measured=self._inputs.get("measured"),
            quality=quality, rules=self.config.quality, confidence=self._per_label("confidence"),
            zoom_spread=self._per_label("zoom_spread"),
            acquisition=Acquisition.from_header(self._header()), models_not_run=self._not_run(),
            sides_assumed=self._sides_assumed(),
        )  # fmt: skip
        paths = report.write(self.folder / "results")
        return f"{len(report.result.measurements)} measurements; {', '.join(sorted(paths))}"

    def _send(self) -> str:
        from msklabel.pacs.send import send_files

        results = self.folder / "results"
        sent = 0
        for destination in self.config.destinations:
            todo = []
            for name in SENT_FILES:
                sop = str(pydicom.dcmread(results / name, stop_before_pixels=True).SOPInstanceUID)
                if not self.status.was_sent(self.job.id, destination.name, sop):
                    todo.append((results / name, sop))
            if todo:
                send_files(destination, [path for path, _ in todo],
                           self.config.listener.ae_title)  # fmt: skip
            for _, sop in todo:
                self.status.mark_sent(self.job.id, destination.name, sop)
            sent += len(todo)
        names = ", ".join(d.name for d in self.config.destinations) or "no destination"
        return f"{sent} instance(s) sent to {names}"

    def _index(self) -> str:
        from msklabel.features import StudyIndex
        from msklabel.labeling.active import sampled_indices

        image, count = self._echoes()[0], self.config.pipeline.index_slices
        slices = sampled_indices(image.shape[0], count) if count else None
        embedding = self.resources.embedder(self.config.pipeline.device).embed(image, slices)
        series = str(image.series_instance_uid or self._selection()["series_instance_uid"])
        info = {"study_instance_uid": self.job.study_uid, "job": self.job.id}
        with StudyIndex.locked(Path(self.config.pipeline.index_dir).expanduser()) as index:
            index.add(series, embedding.study, embedding.model_id, info)
            total = len(index)
        return f"{len(embedding.indices)} slices embedded; the index holds {total} studies"

    # -- shared inputs ----------------------------------------------------------------------

    def _selection(self) -> dict:
        return json.loads((self.folder / "selection.json").read_text())

    def _header(self) -> pydicom.Dataset:
        """The header of the selected series' first file (no pixels)."""
        return pydicom.dcmread(self._selection()["files"][0], stop_before_pixels=True)

    def _per_label(self, name: str) -> dict[int, float] | None:
        """The segmenter's figure ``name`` (``confidence``, ``zoom_spread``) per label value,
        from ``<name>.json`` (None for a given label map, or a job that did not record it)."""
        path = self.folder / f"{name}.json"
        if not path.exists():
            return None
        return {int(k): float(v) for k, v in json.loads(path.read_text()).items()}

    def _sides_assumed(self) -> bool:
        """Whether the automatic segmentation had to assume which knee it was (False for a
        given label map: its medial and lateral labels are the annotator's)."""
        path = self.folder / "sides.json"
        return path.exists() and json.loads(path.read_text())["from"] == "assumed"

    def _not_run(self) -> list[str]:
        """Why the clinical models did not run (empty if they ran or were not asked)."""
        path = self.folder / "clinical.json"
        return json.loads(path.read_text()).get("not_run", []) if path.exists() else []

    def _echoes(self) -> list[Volume]:
        """The selected series' echoes by echo time (read once per run)."""
        if "echoes" in self._inputs:
            return self._inputs["echoes"]
        from msklabel.io import read_echoes

        selection = self._selection()
        try:
            self._inputs["echoes"] = read_echoes(selection["files"])
        except InputError as error:
            raise StepFailed(
                f"series {selection['series_instance_uid']} set aside: {error}"
            ) from None
        return self._inputs["echoes"]

    def _labels(self) -> Volume:
        """The label map the segment step wrote (read once per run)."""
        if "labels" not in self._inputs:
            from msklabel.results.study import read_labels

            self._inputs["labels"] = read_labels(self.folder / "labels.nii.gz", self._echoes()[0])
        return self._inputs["labels"]

    def _model_results(self) -> list:
        path = self.folder / "clinical.json"
        if not path.exists():
            return []
        data = json.loads(path.read_text())
        if "not_run" in data:
            return []
        from msklabel.clinical.prediction import StudyPrediction

        return StudyPrediction.from_dict(data).model_results()


def _summaries(rows: Sequence[StoredInstance]) -> list[SeriesSummary]:
    """One :class:`SeriesSummary` per series among the instance rows."""
    grouped: dict[str, list[InstanceHeader]] = {}
    for row in rows:
        grouped.setdefault(row.series_uid, []).append(row.header)
    return [SeriesSummary.of(uid, headers) for uid, headers in grouped.items()]


def _withheld(name: str, data: dict) -> bool:
    """Whether clinical feature ``name`` belongs to a structure whose rows were withheld."""
    return any(name.startswith(f"{row['structure']}_") for row in data.get("withheld", []))


def _aside_message(rows: Sequence[KeptAside]) -> str:
    items = "; ".join(f"{row.reason} ({row.folder})" for row in rows)
    return f"{len(rows)} instance(s) of this study kept aside: {items}"


def _write_json(path: Path, data: Any) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=1))
    temporary.replace(path)
