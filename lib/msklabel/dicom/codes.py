"""Coded concepts of msklabel's DICOM objects: structures, quantities, statistics, regions.

Standard concepts come from SNOMED CT (SCT), DICOM (DCM) and UCUM. Where none exists
(cartilage thickness, T1rho, cartilage subregions), msklabel's private coding scheme
:data:`PRIVATE_SCHEME` is used; every object using it declares it in its Coding Scheme
Identification Sequence (:func:`private_scheme_item`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from msklabel import __version__
from msklabel.labels import KneeLabel

#: Coding Scheme Designator of msklabel's private concepts.
PRIVATE_SCHEME = "99MSKL"


def private(value: str, meaning: str) -> Code:
    """A concept of msklabel's private coding scheme."""
    return Code(value, PRIVATE_SCHEME, meaning)


def private_scheme_item() -> Dataset:
    """The Coding Scheme Identification Sequence item that declares :data:`PRIVATE_SCHEME`."""
    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = "msklabel private concepts"
    item.CodingSchemeVersion = __version__
    item.CodingSchemeResponsibleOrganization = "msklabel project"
    return item


TISSUE = Code("85756007", "SCT", "Tissue")
ANATOMICAL_STRUCTURE = Code("91723000", "SCT", "Anatomical Structure")
MEDIAL = Code("255561001", "SCT", "Medial")
LATERAL = Code("49370004", "SCT", "Lateral")
FEMUR = Code("71341001", "SCT", "Femur")
TIBIA = Code("12611008", "SCT", "Tibia")
PATELLA = Code("64234005", "SCT", "Patella")
CARTILAGE = Code("309312004", "SCT", "Cartilage")
MENISCUS = Code("74135004", "SCT", "Meniscus")
MUSCLE = Code("91727004", "SCT", "Muscle")
FAT = Code("55603005", "SCT", "Adipose tissue")
KNEE_JOINT = Code("49076000", "SCT", "Knee joint")
MRI_PROCEDURE = Code("113091000", "SCT", "Magnetic resonance imaging")


@dataclass(frozen=True)
class StructureCodes:
    """How a labelled structure is coded in a SEG segment and an SR finding site."""

    category: Code
    type: Code
    anatomic_region: Code | None = None  #: the bone or joint it belongs to
    modifier: Code | None = None  #: medial / lateral


#: Codes of each knee structure, by label key.
KNEE_STRUCTURES: dict[str, StructureCodes] = {
    KneeLabel.FEMUR.key: StructureCodes(ANATOMICAL_STRUCTURE, FEMUR),
    KneeLabel.TIBIA.key: StructureCodes(ANATOMICAL_STRUCTURE, TIBIA),
    KneeLabel.PATELLA.key: StructureCodes(ANATOMICAL_STRUCTURE, PATELLA),
    KneeLabel.FEMORAL_CARTILAGE.key: StructureCodes(TISSUE, CARTILAGE, FEMUR),
    KneeLabel.MEDIAL_TIBIAL_CARTILAGE.key: StructureCodes(TISSUE, CARTILAGE, TIBIA, MEDIAL),
    KneeLabel.LATERAL_TIBIAL_CARTILAGE.key: StructureCodes(TISSUE, CARTILAGE, TIBIA, LATERAL),
    KneeLabel.PATELLAR_CARTILAGE.key: StructureCodes(TISSUE, CARTILAGE, PATELLA),
    KneeLabel.MEDIAL_MENISCUS.key: StructureCodes(
        ANATOMICAL_STRUCTURE, MENISCUS, KNEE_JOINT, MEDIAL
    ),
    KneeLabel.LATERAL_MENISCUS.key: StructureCodes(
        ANATOMICAL_STRUCTURE, MENISCUS, KNEE_JOINT, LATERAL
    ),
    KneeLabel.MUSCLE.key: StructureCodes(TISSUE, MUSCLE, KNEE_JOINT),
    KneeLabel.FAT.key: StructureCodes(TISSUE, FAT, KNEE_JOINT),
}

#: Measured quantity (see msklabel.biomarkers.measurement.UNITS) -> concept name.
QUANTITIES: dict[str, Code] = {
    "volume": Code("118565006", "SCT", "Volume"),
    "area": Code("42798000", "SCT", "Area"),
    "thickness": private("MSKL001", "Cartilage thickness"),
    "t2": Code("113065", "DCM", "T2"),
    "t1rho": private("MSKL002", "T1rho"),
    "height": Code("121207", "DCM", "Height"),
    "cross_sectional_area": private("MSKL003", "Cross-sectional area"),
}

#: UCUM units by unit string.
UNITS: dict[str, Code] = {
    "mm3": Code("mm3", "UCUM", "cubic millimeter"),
    "mm2": Code("mm2", "UCUM", "square millimeter"),
    "mm": Code("mm", "UCUM", "millimeter"),
    "ms": Code("ms", "UCUM", "millisecond"),
}

#: Statistic (see msklabel.biomarkers.measurement.DERIVATIONS) -> Derivation concept.
DERIVATIONS: dict[str, Code] = {
    "mean": Code("373098007", "SCT", "Mean"),
    "sd": Code("386136009", "SCT", "Standard Deviation"),
    "median": Code("373099004", "SCT", "Median"),
    "p5": Code("371888009", "SCT", "Fifth percentile"),
    "p95": Code("371889001", "SCT", "Ninety-fifth percentile"),
    "min": Code("255605001", "SCT", "Minimum"),
    "max": Code("56851009", "SCT", "Maximum"),
}


def region_code(region: str, meaning: str) -> Code:
    """The private concept of a cartilage subregion, e.g. ``cMF``."""
    return private(f"R-{region}", meaning)
