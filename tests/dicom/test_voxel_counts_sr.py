"""The voxel counts in the TID 1500 SR: beside each T2 value, coded, in {voxels}, read back."""

from __future__ import annotations

import pydicom
import pytest

from msklabel.dicom.codes import PRIVATE_SCHEME
from msklabel.dicom.tid1500 import measurement_groups, numeric_items

pytestmark = pytest.mark.slow

DERIVATION = "121401"  # DCM "Derivation"
#: quantity -> code value of its private concept
CONCEPTS = {"voxels": "MSKL004", "t2_voxels": "MSKL005"}


def _counts(group) -> dict[str, tuple[float, list]]:
    """The group's count items: code value -> (value, the item's modifiers)."""
    found = {}
    for item in numeric_items(group):
        name = item.ConceptNameCodeSequence[0]
        (measured,) = item.MeasuredValueSequence
        unit = measured.MeasurementUnitsCodeSequence[0]
        if (unit.CodeValue, unit.CodingSchemeDesignator) != ("{voxels}", "UCUM"):
            continue
        assert name.CodingSchemeDesignator == PRIVATE_SCHEME
        children = item.get("ContentSequence", [])
        modifiers = [c.ConceptNameCodeSequence[0].CodeValue for c in children]
        found[str(name.CodeValue)] = (float(measured.NumericValue), modifiers)
    return found


def test_each_t2_group_carries_its_voxel_counts(stored_study) -> None:
    groups = measurement_groups(pydicom.dcmread(stored_study.sr_path))
    written = stored_study.result.measurements.groups()
    t2_groups = [key for key, items in written.items() if any(m.quantity == "t2" for m in items)]
    assert any(region is not None for _, region in t2_groups)
    for structure, region in t2_groups:
        group = groups[structure if region is None else f"{structure} {region}"]
        counts = _counts(group)
        wanted = CONCEPTS if region is None else {"t2_voxels": CONCEPTS["t2_voxels"]}
        assert set(counts) == set(wanted.values())
        m = stored_study.result.measurements
        for quantity, code in wanted.items():
            value, modifiers = counts[code]
            assert value == m.get(structure, quantity, "count", region)
            assert DERIVATION not in modifiers  # a count is no statistic of T2
    declared = pydicom.dcmread(stored_study.sr_path).CodingSchemeIdentificationSequence
    assert PRIVATE_SCHEME in {item.CodingSchemeDesignator for item in declared}


def test_groups_without_relaxation_hold_no_count(stored_study) -> None:
    groups = measurement_groups(pydicom.dcmread(stored_study.sr_path))
    for (structure, region), items in stored_study.result.measurements.groups().items():
        if not any(m.quantity == "t2" for m in items):
            assert _counts(groups[structure if region is None else f"{structure} {region}"]) == {}
