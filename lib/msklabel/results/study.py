"""One series measured end to end: a label map in; biomarkers JSON, SEG, SR and report out.

The label map is a NIfTI file on the series' grid or a DICOM-SEG of the series. Every output
derives from the *reference* echo (the SEG references its images); all echoes go into the
relaxation fit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import matplotlib.pyplot as plt
import numpy as np
from pydicom.dataset import Dataset

from msklabel import __version__
from msklabel.biomarkers.figure import ModelLine, figure_bytes, figure_rgb, render_report
from msklabel.biomarkers.knee import KneeBiomarkers, measure_knee
from msklabel.biomarkers.quality import (
    DEFAULT_RULES,
    QualityReport,
    QualityRules,
    Verdict,
    assess_knee,
    write_biomarkers_json,
)
from msklabel.clinical.result import ModelResult
from msklabel.dicom.report import make_report_image
from msklabel.dicom.seg import make_segmentation, read_seg_labels, read_source_images
from msklabel.dicom.sr import make_measurement_report
from msklabel.errors import InputError
from msklabel.io.acquisition import UNKNOWN_ACQUISITION, Acquisition
from msklabel.io.nifti import read_nifti
from msklabel.volume import Volume

#: The files :meth:`StudyReport.write` puts in its folder.
OUTPUT_FILES = ("biomarkers.json", "seg.dcm", "sr.dcm", "report.png", "report.pdf", "report.dcm")

#: Called with the name of each step as it starts.
StepCallback = Callable[[str], None]

#: The steps of :func:`measure_study`, in order, as given to its ``on_step``.
STEPS = ("measuring", "quality gate", "writing SEG", "writing SR", "drawing report")
#: Segment Descriptions of structures the gate did not pass.
SEGMENT_NOTES = {
    Verdict.DOUBTFUL: "quality gate: doubtful (values flagged in the SR)",
    Verdict.FAIL: "quality gate: fail (values withheld from the SR)",
}


@dataclass(frozen=True)
class StudyReport:
    """Everything measured on one series, ready to write or send."""

    result: KneeBiomarkers
    quality: QualityReport
    labels: Volume
    segmentation: hd.seg.Segmentation
    sr: hd.sr.Comprehensive3DSR
    report_image: hd.sc.SCImage
    png: bytes
    pdf: bytes
    source: dict  #: provenance stored in biomarkers.json (no patient-identifying data)

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write :data:`OUTPUT_FILES` into ``out_dir`` (created); their paths by name."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {name: out / name for name in OUTPUT_FILES}
        write_biomarkers_json(
            paths["biomarkers.json"], self.result.measurements, self.quality, self.source
        )
        self.segmentation.save_as(paths["seg.dcm"])
        self.sr.save_as(paths["sr.dcm"])
        self.report_image.save_as(paths["report.dcm"])
        paths["report.png"].write_bytes(self.png)
        paths["report.pdf"].write_bytes(self.pdf)
        return paths


def read_labels(path: str | os.PathLike[str], reference: Volume) -> Volume:
    """The label map in ``path`` (NIfTI, or a DICOM-SEG of ``reference``'s images) on
    ``reference``'s grid; :class:`InputError` naming ``path`` if it is not on that grid."""
    if os.fspath(path).lower().endswith((".nii", ".nii.gz")):
        image = read_nifti(path)
        check_same_grid(image, reference, path)
        return reference.with_array(_label_array(image.array, path))
    return read_seg_labels(path, reference)


def check_same_grid(volume: Volume, reference: Volume, path: str | os.PathLike[str]) -> None:
    """Raise :class:`InputError` naming ``path`` unless ``volume`` lies on ``reference``'s
    voxel grid (:meth:`~msklabel.volume.Volume.grid_mismatch`)."""
    problem = reference.grid_mismatch(volume)
    if problem is not None:
        raise InputError(path, f"{problem} (the series' grid)")


def _label_array(array: np.ndarray, path: str | os.PathLike[str]) -> np.ndarray:
    values = np.asarray(array)
    if values.size and (values.min() < 0 or not np.array_equal(values, np.round(values))):
        raise InputError(path, "label values must be non-negative integers")
    return values.astype(np.uint8 if values.max(initial=0) < 256 else np.uint16)


def measure_study(
    image: Volume,
    labels: Volume,
    *,
    echoes: Sequence[Volume] = (),
    labels_name: str,
    model_results: Sequence[ModelResult] = (),
    on_step: StepCallback | None = None,
    measured: KneeBiomarkers | None = None,
    confidence: Mapping[int, float] | None = None,
    zoom_spread: Mapping[int, float] | None = None,
    rules: QualityRules = DEFAULT_RULES,
    acquisition: Acquisition = UNKNOWN_ACQUISITION,
    quality: QualityReport | None = None,
    models_not_run: Sequence[str] = (),
    sides_assumed: bool = False,
) -> StudyReport:
    """Measure ``labels`` (on the grid of ``image``, the echo whose images the SEG
    references) and make the SEG, SR and report; T2 is fitted from ``echoes`` if 2 or more.

    ``labels_name`` names the label map in messages and in the JSON; ``model_results`` (triage,
    risk) go into the SR (see :func:`msklabel.dicom.sr.make_measurement_report`).
    ``measured``: the result of :func:`measure_knee` on the same labels and echoes, if the
    caller has it already (it is then not measured again). The quality gate
    (:func:`~msklabel.biomarkers.quality.assess_knee` with ``rules``, the segmenter's
    ``confidence`` and ``zoom_spread`` per label, the series' ``acquisition`` and whether
    the segmenter ``sides_assumed``) judges every structure, unless its ``quality`` report is
    given; a failed structure's values are withheld from
    the SR, the report and the JSON rows. ``models_not_run`` (reasons) go on the report.
    """
    step = on_step or (lambda name: None)
    step(STEPS[0])
    fitted = echoes if len(echoes) >= 2 else ()
    result = measured or measure_knee(labels, echoes=fitted)
    step(STEPS[1])
    if quality is None:
        quality = assess_knee(
            labels, result, echoes=fitted, image=image, confidence=confidence,
            zoom_spread=zoom_spread, rules=rules,
            acquisition=acquisition, sides_assumed=sides_assumed,
        )  # fmt: skip
    source_images = read_source_images(image)
    step(STEPS[2])
    notes = {
        key: SEGMENT_NOTES[q.verdict] for key, q in quality.structures.items() if q.verdict in
        SEGMENT_NOTES
    }  # fmt: skip
    try:
        segmentation = make_segmentation(labels, source_images, notes=notes)
    except ValueError as error:
        raise InputError(labels_name, str(error)) from None
    step(STEPS[3])
    sr = make_measurement_report(
        result.measurements, segmentation, source_images, model_results=model_results,
        quality=quality,
    )  # fmt: skip
    step(STEPS[4])
    figure = render_report(
        image, labels, result, _title(fitted), quality=quality,
        models=[_model_line(m) for m in model_results], models_not_run=models_not_run,
    )  # fmt: skip
    try:
        png, pdf, rgb = figure_bytes(figure, "png"), figure_bytes(figure, "pdf"), figure_rgb(figure)
    finally:
        plt.close(figure)
    return StudyReport(
        result=result,
        quality=quality,
        labels=labels,
        segmentation=segmentation,
        sr=sr,
        report_image=make_report_image(rgb, source_images[0]),
        png=png,
        pdf=pdf,
        source=_provenance(image, fitted, labels_name, segmentation, sr),
    )


def _model_line(result: ModelResult) -> ModelLine:
    decision = {None: "not reached", True: "flagged", False: "not flagged"}[result.decision]
    threshold = "" if result.threshold is None else f" (threshold {result.threshold:.2f})"
    return ModelLine(
        f"{result.finding} [{result.algorithm_name} {result.algorithm_version}]",
        f"p = {result.probability:.2f}{threshold}: {decision}",
        result.demonstration,
    )


def _title(echoes: Sequence[Volume]) -> str:
    if not echoes:
        return "msklabel knee biomarkers"
    times = [float(v.echo_time or 0.0) for v in echoes]
    echoes_text = f"{len(times)} echoes, TE {min(times):.3g}-{max(times):.3g} ms"
    return f"msklabel knee biomarkers (T2 from {echoes_text})"


def _provenance(
    image: Volume, echoes: Sequence[Volume], labels_name: str, seg: Dataset, sr: Dataset
) -> dict:
    return {
        "software": f"msklabel {__version__}",
        "series_instance_uid": image.series_instance_uid,
        "reference_echo_time_ms": image.echo_time,
        "echo_times_ms": [v.echo_time for v in echoes],
        "labels": labels_name,
        "seg_sop_instance_uid": str(seg.SOPInstanceUID),
        "sr_sop_instance_uid": str(sr.SOPInstanceUID),
    }
