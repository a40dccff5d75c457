"""DICOM Segmentation (BINARY) of a label map, and reading one back as a label map.

A BINARY SEG is written, not LABELMAP: Orthanc 1.10 refuses the LABELMAP SOP class over
C-STORE and dciodvfy does not know it. Each label present becomes one segment, coded by
:data:`msklabel.dicom.codes.STRUCTURES` (category, type, anatomic region, medial /
lateral modifier), with the label key as Tracking ID; a SEG using a private concept declares
its scheme.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from msklabel import __version__
from msklabel.dicom.codes import PRIVATE_SCHEME, STRUCTURES, StructureCodes, private_scheme_item
from msklabel.dicom.common import blank_placeholder_dates
from msklabel.errors import InputError
from msklabel.labels import KneeLabel
from msklabel.volume import Volume

logger = logging.getLogger(__name__)

MANUFACTURER = "msklabel"


def algorithm_identification() -> hd.AlgorithmIdentificationSequence:
    """msklabel as the segmenting algorithm (family: Artificial Intelligence)."""
    return hd.AlgorithmIdentificationSequence(
        name="msklabel",
        family=codes.DCM.ArtificialIntelligence,
        version=__version__,
    )


def read_source_images(volume: Volume) -> list[Dataset]:
    """The DICOM datasets of ``volume``'s slices, in slice order (from its source files)."""
    if len(volume.source_files) != volume.shape[0]:
        raise InputError(
            volume.series_instance_uid or "(volume)",
            "the volume has no DICOM source file per slice: a SEG needs the source series",
        )
    return [pydicom.dcmread(path) for path in volume.source_files]


def make_segmentation(
    labels: Volume,
    source_images: Sequence[Dataset],
    *,
    structures: Mapping[int, str] | None = None,
    notes: Mapping[str, str] | None = None,
    series_number: int = 900,
    series_description: str = "msklabel segmentation",
) -> hd.seg.Segmentation:
    """A BINARY SEG holding one segment per label of ``labels`` present in ``structures``.

    ``labels`` must be on the grid of ``source_images`` (one dataset per slice, in slice
    order). ``structures`` maps label values to keys of ``STRUCTURES`` (default: the knee
    label set; e.g. ``{int(label): label.key for label in SpineLabel}`` for a spine).
    ``notes`` (by structure key, at most 64 characters) become Segment Descriptions, e.g. a
    quality verdict: a segment whose values were withheld is still stored, so that it can be
    seen and corrected.
    """
    structures = structures or {int(label): label.key for label in KneeLabel}
    if len(source_images) != labels.shape[0]:
        raise ValueError(f"{len(source_images)} source images for {labels.shape[0]} slices")
    if [ds.SOPInstanceUID for ds in source_images] != list(labels.sop_instance_uids):
        raise ValueError("the source images are not the label volume's slices, in order")
    array = np.asarray(labels.array)
    present = [value for value in sorted(structures) if np.any(array == value)]
    if not present:
        raise ValueError("no labelled structure to store")
    masks = np.stack([array == value for value in present], axis=-1)
    descriptions = [
        _segment(number, structures[value], (notes or {}).get(structures[value]))
        for number, value in enumerate(present, start=1)
    ]
    seg = hd.seg.Segmentation(
        source_images=list(source_images),
        pixel_array=masks.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="msklabel",
        software_versions=__version__,
        device_serial_number="0",
        series_description=series_description,
    )
    if any(_uses_private_scheme(structures[value]) for value in present):
        declared = list(seg.get("CodingSchemeIdentificationSequence", []))
        seg.CodingSchemeIdentificationSequence = [*declared, private_scheme_item()]
    blank_placeholder_dates(seg)
    return seg


def _uses_private_scheme(key: str) -> bool:
    coded = _codes(key)
    used = (coded.category, coded.type, coded.anatomic_region, coded.modifier)
    return any(code is not None and code.scheme_designator == PRIVATE_SCHEME for code in used)


def _segment(number: int, key: str, note: str | None = None) -> hd.seg.SegmentDescription:
    coded = _codes(key)
    description = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=key.replace("_", " "),
        segmented_property_category=coded.category,
        segmented_property_type=coded.type,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm_identification(),
        tracking_uid=generate_uid(),
        tracking_id=key,
        anatomic_regions=[coded.anatomic_region] if coded.anatomic_region else None,
    )
    if note:
        description.SegmentDescription = note[:64]
    if coded.modifier is not None:
        description.SegmentedPropertyTypeCodeSequence[
            0
        ].SegmentedPropertyTypeModifierCodeSequence = [hd.sr.CodedConcept.from_code(coded.modifier)]
    return description


def _codes(key: str) -> StructureCodes:
    try:
        return STRUCTURES[key]
    except KeyError:
        raise ValueError(f"no DICOM codes for structure {key!r}") from None


def segment_numbers(seg: Dataset) -> dict[str, int]:
    """Label key -> segment number, by matching each segment's codes to the known structures."""
    found: dict[str, int] = {}
    for item in seg.SegmentSequence:
        key = _match(item)
        if key is None:
            logger.warning("segment %s has codes msklabel does not know", item.SegmentNumber)
        else:
            found[key] = int(item.SegmentNumber)
    return found


def _match(item: Dataset) -> str | None:
    def value(parent: Dataset, sequence_name: str) -> tuple[str, str] | None:
        sequence = parent.get(sequence_name)
        if not sequence:
            return None
        return (str(sequence[0].CodeValue), str(sequence[0].CodingSchemeDesignator))

    type_item = item.SegmentedPropertyTypeCodeSequence[0]
    found = (
        value(item, "SegmentedPropertyTypeCodeSequence"),
        value(item, "AnatomicRegionSequence"),
        value(type_item, "SegmentedPropertyTypeModifierCodeSequence"),
    )
    for key, coded in STRUCTURES.items():
        wanted = tuple(
            None if code is None else (code.value, code.scheme_designator)
            for code in (coded.type, coded.anatomic_region, coded.modifier)
        )
        if wanted == found:
            return key
    return None


def read_seg_labels(
    path: str | os.PathLike[str],
    reference: Volume,
    *,
    structures: Mapping[int, str] | None = None,
) -> Volume:
    """Read a SEG as a label map on ``reference``'s grid (the series it segments).

    Segments are mapped to label values through their codes (``structures``: label value
    -> structure key, default the knee label set); unknown segments are skipped.
    """
    structures = structures or {int(label): label.key for label in KneeLabel}
    try:
        seg = hd.seg.segread(path)
    except Exception as error:
        raise InputError(path, f"not a readable DICOM Segmentation ({error})") from None
    referenced = {
        item.ReferencedSOPInstanceUID
        for series in seg.ReferencedSeriesSequence
        for item in series.ReferencedInstanceSequence
    }
    if not referenced & set(reference.sop_instance_uids):
        raise InputError(path, "the SEG does not reference the images of the series")
    numbers = segment_numbers(seg)
    value_of = {key: value for value, key in structures.items()}
    out = np.zeros(reference.shape, dtype=np.uint8)
    for key, number in numbers.items():
        if key not in value_of:
            continue
        mask = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=list(reference.sop_instance_uids),
            segment_numbers=[number],
            assert_missing_frames_are_empty=True,
            ignore_spatial_locations=True,
        )[..., 0]
        out[mask > 0] = value_of[key]
    return reference.with_array(out)
