"""msklabel's own checks of a TID 1500 Measurement Report against the SEG it references.

dciodvfy, dsrdump and PixelMed accept reports that break the template (e.g. without
"Procedure reported"), so the rules msklabel relies on are checked here, on the raw
content tree: the report title, procedure reported, an observer type in the observation
context, measurement groups each referencing an existing segment of the given SEG (but the
clinical-models group, which holds no ROI measurement), a
unit on every numeric value, no numeric value in a group whose quality verdict is Fail, and
a declaration of every private coding scheme used.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from msklabel.biomarkers.quality import Verdict
from msklabel.dicom.sr import MODEL_GROUP_PREFIX, QUALITY_VERDICT, VERDICT_CODES

_REPORT = ("126000", "DCM")
_PROCEDURE_REPORTED = ("121058", "DCM")
_OBSERVER_TYPE = ("121005", "DCM")
_IMAGING_MEASUREMENTS = ("126010", "DCM")
_MEASUREMENT_GROUP = ("125007", "DCM")
_REFERENCED_SEGMENT = ("121191", "DCM")
_TRACKING_IDENTIFIER = ("112039", "DCM")


def _concept(item: Dataset) -> tuple[str, str] | None:
    sequence = item.get("ConceptNameCodeSequence")
    if not sequence:
        return None
    return (str(sequence[0].CodeValue), str(sequence[0].CodingSchemeDesignator))


def _children(item: Dataset) -> list[Dataset]:
    return list(item.get("ContentSequence", []))


def _walk(item: Dataset) -> Iterator[Dataset]:
    for child in _children(item):
        yield child
        yield from _walk(child)


def _schemes(item: Dataset) -> Iterator[str]:
    """Every Coding Scheme Designator used anywhere below ``item``."""
    for element in item:
        if element.keyword == "CodingSchemeDesignator":
            yield str(element.value)
        elif element.VR == "SQ":
            for child in element.value:
                yield from _schemes(child)


def check_measurement_report(sr: Dataset, seg: Dataset) -> list[str]:
    """Problems of ``sr`` as a TID 1500 report of measurements on ``seg``; empty if none."""
    problems: list[str] = []
    if _concept(sr) != _REPORT:
        problems.append("the document title is not 'Imaging Measurement Report' (126000, DCM)")
    top = _children(sr)
    if not any(
        _concept(i) == _PROCEDURE_REPORTED and i.RelationshipType == "HAS CONCEPT MOD" for i in top
    ):
        problems.append("no 'Procedure reported'")
    if not any(
        _concept(i) == _OBSERVER_TYPE and i.RelationshipType == "HAS OBS CONTEXT" for i in top
    ):
        problems.append("no observation context (no 'Observer Type')")
    containers = [i for i in top if _concept(i) == _IMAGING_MEASUREMENTS]
    groups = [g for c in containers for g in _children(c) if _concept(g) == _MEASUREMENT_GROUP]
    if not groups:
        problems.append("no measurement group")
    segments = {int(item.SegmentNumber) for item in seg.SegmentSequence}
    for number, group in enumerate(groups, start=1):
        problems += [f"group {number}: {p}" for p in _check_group(group, seg, segments)]
    declared = {
        str(i.CodingSchemeDesignator) for i in sr.get("CodingSchemeIdentificationSequence", [])
    }
    for scheme in sorted(set(_schemes(sr))):
        if scheme.startswith("99") and scheme not in declared:
            problems.append(f"private coding scheme {scheme} is not declared")
    return problems


def _check_group(group: Dataset, seg: Dataset, segments: set[int]) -> list[str]:
    problems = []
    references = [i for i in _children(group) if _concept(i) == _REFERENCED_SEGMENT]
    clinical = any(
        _concept(i) == _TRACKING_IDENTIFIER
        and str(i.get("TextValue", "")).startswith(MODEL_GROUP_PREFIX)
        for i in _children(group)
    )
    if not references and not clinical:
        problems.append("references no segment")
    for reference in references:
        item = reference.ReferencedSOPSequence[0]
        if item.ReferencedSOPInstanceUID != seg.SOPInstanceUID:
            problems.append("references another SEG instance")
        numbers = item.get("ReferencedSegmentNumber")
        if numbers is None:
            problems.append("references no segment number")
            continue
        for number in numbers if isinstance(numbers, MultiValue) else [numbers]:
            if int(number) not in segments:
                problems.append(f"references segment {number}, absent from the SEG")
    if group_verdict(group) == Verdict.FAIL and any(i.ValueType == "NUM" for i in _walk(group)):
        problems.append("its structure failed the quality gate, yet it holds numeric values")
    for item in _walk(group):
        if item.ValueType != "NUM":
            continue
        values = item.get("MeasuredValueSequence")
        if not values or not values[0].get("MeasurementUnitsCodeSequence"):
            problems.append(f"value {_concept(item)} has no unit")
    return problems


def group_verdict(group: Dataset) -> Verdict | None:
    """The quality verdict a measurement group carries, or None."""
    wanted = (QUALITY_VERDICT.value, QUALITY_VERDICT.scheme_designator)
    codes = {(c.value, c.scheme_designator): v for v, c in VERDICT_CODES.items()}
    for item in _children(group):
        if item.ValueType == "CODE" and _concept(item) == wanted:
            value = item.ConceptCodeSequence[0]
            return codes.get((str(value.CodeValue), str(value.CodingSchemeDesignator)))
    return None


def measurement_groups(sr: Dataset) -> dict[str, Dataset]:
    """The report's measurement groups by their Tracking Identifier text."""
    found = {}
    for container in _children(sr):
        if _concept(container) != _IMAGING_MEASUREMENTS:
            continue
        for group in _children(container):
            for item in _children(group):
                if _concept(item) == _TRACKING_IDENTIFIER:
                    found[str(item.TextValue)] = group
    return found


def numeric_items(item: Dataset) -> list[Dataset]:
    """Every NUM content item below ``item``."""
    return [child for child in _walk(item) if child.ValueType == "NUM"]
