"""Comprehensive 3D SR, TID 1500 Measurement Report, of msklabel's biomarkers.

One Volumetric ROI measurement group (TID 1411) per structure and per region, each
referencing its segment of the SEG it was measured on, with UCUM units and a derivation
(mean, SD...) per value. The observation context names msklabel as the device observer;
the procedure reported is an MR imaging procedure; the source images and the SEG are the
evidence. Results of other models (triage, risk) come as ``extra_items``: qualitative
evaluations and measurements placed in one TID 1501 group, so that the writer need not
change when they are added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from msklabel import __version__
from msklabel.biomarkers.measurement import Measurement, Measurements
from msklabel.biomarkers.regions import REGION_NAMES
from msklabel.dicom.codes import (
    DERIVATIONS,
    KNEE_STRUCTURES,
    MRI_PROCEDURE,
    QUANTITIES,
    UNITS,
    private_scheme_item,
    region_code,
)
from msklabel.dicom.common import blank_placeholder_dates
from msklabel.dicom.seg import MANUFACTURER, segment_numbers

#: Stable UID of msklabel as a device observer (one per version).
DEVICE_UID = generate_uid(entropy_srcs=["msklabel device observer", __version__])

ExtraItem = hd.sr.QualitativeEvaluation | hd.sr.Measurement
#: Tracking Identifier of the group holding the extra (clinical model) items.
CLINICAL_GROUP_ID = "clinical models"


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
    extra_items: Sequence[ExtraItem] = (),
    region_names: Mapping[str, str] = REGION_NAMES,
    series_number: int = 901,
    series_description: str = "msklabel biomarkers",
) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 report of ``measurements`` made on ``segmentation`` of ``source_images``.

    Every measured structure must be a segment of ``segmentation``.
    """
    numbers = segment_numbers(segmentation)
    series_uid = source_images[0].SeriesInstanceUID
    groups: list = []
    for (structure, region), items in measurements.groups().items():
        if structure not in numbers:
            raise ValueError(f"structure {structure!r} is not a segment of the SEG")
        groups.append(
            _roi_group(
                structure, region, items, segmentation, numbers[structure], series_uid, region_names
            )
        )
    if extra_items:
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=generate_uid(), identifier=CLINICAL_GROUP_ID
                ),
                measurements=[item for item in extra_items if isinstance(item, hd.sr.Measurement)],
                qualitative_evaluations=[
                    item for item in extra_items if isinstance(item, hd.sr.QualitativeEvaluation)
                ],
            )
        )
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
) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    coded = KNEE_STRUCTURES[structure]
    sites = [
        hd.sr.FindingSite(
            anatomic_location=coded.anatomic_region or coded.type,
            topographical_modifier=coded.modifier,
        )
    ]
    if region is not None:
        sites.append(hd.sr.FindingSite(region_code(region, region_names[region])))
    algorithm = hd.sr.AlgorithmIdentification(name="msklabel", version=__version__)
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
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
                derivation=DERIVATIONS[m.derivation] if m.derivation else None,
                algorithm_id=algorithm,
            )
            for m in items
        ],
    )
