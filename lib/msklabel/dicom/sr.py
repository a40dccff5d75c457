"""Comprehensive 3D SR, TID 1500 Measurement Report, of msklabel's biomarkers.

One Volumetric ROI measurement group (TID 1411) per structure and per region, each
referencing its segment of the SEG it was measured on, with UCUM units and a derivation
(mean, SD...) per value; beside each relaxation value, the number of voxels it stands on
and of the structure's mask (private concepts, UCUM ``{voxels}``, no derivation). The
observation context names msklabel as the device observer; the procedure reported is an MR
imaging procedure; the source images and the SEG are the evidence. Results of clinical
models (triage stages, risks) come as :class:`~msklabel.clinical.result.ModelResult`
(:func:`model_result_group`): one TID 1501 group each, naming the algorithm and its
version, with the probability as a numeric item (UCUM ``1``), the decision threshold, and
the decision as SNOMED CT Present / Absent; a demonstration model's group says "not for
clinical use" in a TEXT qualitative evaluation (TID 1501 row 12: coded question, text
answer).

Quality gate (:mod:`msklabel.biomarkers.quality`): every assessed structure's group carries
its verdict as a CODE qualitative evaluation (private concepts, declared) and each reason
as a TEXT one. A **failed** structure keeps one group (finding, site, reference to its
segment, verdict, reasons) but **no numeric item and no region groups**: its values are not
in the SR at all, so no reader can take them for valid measurements. A doubtful structure's
values stay, flagged by its verdict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from msklabel import __version__
from msklabel.biomarkers.measurement import Measurement, Measurements
from msklabel.biomarkers.quality import QualityReport, StructureQuality, Verdict
from msklabel.biomarkers.regions import REGION_NAMES
from msklabel.clinical.result import ModelResult
from msklabel.dicom.codes import (
    DERIVATIONS,
    MRI_PROCEDURE,
    QUANTITIES,
    STRUCTURES,
    UNITS,
    private,
    private_scheme_item,
    region_code,
)
from msklabel.dicom.common import blank_placeholder_dates
from msklabel.dicom.seg import MANUFACTURER, segment_numbers

#: Stable UID of msklabel as a device observer (one per version).
DEVICE_UID = generate_uid(entropy_srcs=["msklabel device observer", __version__])

#: Tracking Identifiers of clinical model groups start with this (they reference no segment).
MODEL_GROUP_PREFIX = "model result: "
PROBABILITY = private("PROB", "Probability")
THRESHOLD = private("THRESHOLD", "Decision threshold")
DECISION = private("DECISION", "Model decision")
PRESENT = codes.SCT.Present
ABSENT = codes.SCT.Absent
INTENDED_USE = private("USE", "Intended use")
#: What a demonstration model's group says of its result.
NOT_FOR_CLINICAL_USE = "Demonstration model trained on synthetic data: not for clinical use"
QUALITY_VERDICT = private("QVERDICT", "Quality gate verdict")
QUALITY_FINDING = private("QFINDING", "Quality gate finding")
VERDICT_CODES = {
    Verdict.PASS: private("QPASS", "Pass"),
    Verdict.DOUBTFUL: private("QDOUBTFUL", "Doubtful"),
    Verdict.FAIL: private("QFAIL", "Fail: not measured"),
}


def model_result_group(result: ModelResult) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """The TID 1501 group holding one clinical model's ``result``; its finding is a private
    concept whose value is a stable digest of the result's key."""
    finding = private(
        "M" + hashlib.blake2b(result.key.encode(), digest_size=6).hexdigest(), result.finding
    )
    measurements = [hd.sr.Measurement(PROBABILITY, result.probability, codes.UCUM.NoUnits)]
    if result.threshold is not None:
        measurements.append(hd.sr.Measurement(THRESHOLD, result.threshold, codes.UCUM.NoUnits))
    decisions = []
    if result.decision is not None:
        decisions.append(
            hd.sr.QualitativeEvaluation(DECISION, PRESENT if result.decision else ABSENT)
        )
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=generate_uid(), identifier=MODEL_GROUP_PREFIX + result.key
        ),
        finding_type=finding,
        algorithm_id=hd.sr.AlgorithmIdentification(result.algorithm_name, result.algorithm_version),
        measurements=measurements,
        qualitative_evaluations=decisions or None,
    )
    if result.demonstration:
        _add_text(group, INTENDED_USE, NOT_FOR_CLINICAL_USE)
    return group


def _add_text(group: hd.sr.Template, name: Code, text: str) -> None:
    """Append a TEXT qualitative evaluation (coded question, text answer) to ``group``."""
    item = hd.sr.TextContentItem(
        name=name, value=text, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
    )
    group[0].ContentSequence.append(item)


def observation_context() -> hd.sr.ObservationContext:
    """msklabel as the device observer of every measurement."""
    return hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=DEVICE_UID,
                name="msklabel",
                manufacturer_name=MANUFACTURER,
                model_name=f"msklabel {__version__}",
            ),
        )
    )


def make_measurement_report(
    measurements: Measurements,
    segmentation: Dataset,
    source_images: Sequence[Dataset],
    *,
    model_results: Sequence[ModelResult] = (),
    quality: QualityReport | None = None,
    region_names: Mapping[str, str] = REGION_NAMES,
    series_number: int = 901,
    series_description: str = "msklabel biomarkers",
) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 report of ``measurements`` made on ``segmentation`` of ``source_images``.

    Every measured structure must be a segment of ``segmentation``. With ``quality``, each
    assessed structure's group carries its verdict; a failed structure's values are left out.
    """
    numbers = segment_numbers(segmentation)
    series_uid = source_images[0].SeriesInstanceUID
    groups: list = []
    for (structure, region), items in measurements.groups().items():
        if structure not in numbers:
            raise ValueError(f"structure {structure!r} is not a segment of the SEG")
        assessed = quality.structures.get(structure) if quality else None
        failed = assessed is not None and assessed.verdict == Verdict.FAIL
        if failed and region is not None:
            continue
        groups.append(_roi_group(
            structure, region, [] if failed else items, segmentation, numbers[structure],
            series_uid, region_names, assessed if region is None else None,
        ))  # fmt: skip
    groups += [model_result_group(result) for result in model_results]
    report = hd.sr.MeasurementReport(
        observation_context=observation_context(),
        procedure_reported=MRI_PROCEDURE,
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*source_images, segmentation],
        content=report,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        series_description=series_description,
    )
    declared = list(sr.get("CodingSchemeIdentificationSequence", []))
    sr.CodingSchemeIdentificationSequence = [*declared, private_scheme_item()]
    blank_placeholder_dates(sr)
    return sr


def _roi_group(
    structure: str,
    region: str | None,
    items: list[Measurement],
    segmentation: Dataset,
    segment_number: int,
    series_uid: str,
    region_names: Mapping[str, str],
    assessed: StructureQuality | None,
) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    """The group of one structure (or region): its values, and its verdict with reasons."""
    coded = STRUCTURES[structure]
    sites = [
        hd.sr.FindingSite(
            anatomic_location=coded.anatomic_region or coded.type,
            topographical_modifier=coded.modifier,
        )
    ]
    if region is not None:
        sites.append(hd.sr.FindingSite(region_code(region, region_names[region])))
    algorithm = hd.sr.AlgorithmIdentification(name="msklabel", version=__version__)
    verdicts = (
        [hd.sr.QualitativeEvaluation(QUALITY_VERDICT, VERDICT_CODES[assessed.verdict])]
        if assessed is not None
        else None
    )
    group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=generate_uid(),
            identifier=structure if region is None else f"{structure} {region}",
        ),
        referenced_segment=hd.sr.ReferencedSegment(
            sop_class_uid=segmentation.SOPClassUID,
            sop_instance_uid=segmentation.SOPInstanceUID,
            segment_number=segment_number,
            source_series=hd.sr.SourceSeriesForSegmentation(series_uid),
        ),
        finding_type=coded.type,
        finding_sites=sites,
        measurements=[
            hd.sr.Measurement(
                name=QUANTITIES[m.quantity],
                value=m.value,
                unit=UNITS[m.unit],
                derivation=DERIVATIONS.get(m.derivation),
                algorithm_id=algorithm,
            )
            for m in items
        ]
        or None,
        qualitative_evaluations=verdicts,
    )
    for reason in assessed.reasons if assessed is not None else ():
        _add_text(group, QUALITY_FINDING, f"{reason.verdict.value}: {reason.message}")
    return group
