"""Coded concepts of msklabel's DICOM objects: structures, quantities, statistics, regions.

Standard concepts come from SNOMED CT (SCT), DICOM (DCM) and UCUM, as listed in pydicom's
bundled DICOM concept dictionary (``pydicom.sr.codedict``). Where none exists or none could
be verified (cartilage thickness, T1rho, cross-sectional area, voxel counts, the S1 vertebra,
the thigh muscle groups, subregions), msklabel's private coding scheme
:data:`PRIVATE_SCHEME` is used; every object using it declares it in its Coding Scheme
Identification Sequence (:func:`private_scheme_item`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from msklabel import __version__
from msklabel.labels import KneeLabel, SpineLabel, ThighLabel

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
VERTEBRAL_CANAL = Code("61853006", "SCT", "Vertebral canal")
THIGH = Code("68367000", "SCT", "Thigh")
SUBCUTANEOUS_TISSUE = Code("71966008", "SCT", "Subcutaneous tissue")


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

#: Codes of each lumbar spine structure, by label key: the vertebrae (the labels hold their
#: bodies) and the discs by level.
SPINE_STRUCTURES: dict[str, StructureCodes] = {
    label.key: StructureCodes(ANATOMICAL_STRUCTURE, code)
    for label, code in {
        SpineLabel.L1: Code("66794005", "SCT", "L1 vertebra"),
        SpineLabel.L2: Code("14293000", "SCT", "L2 vertebra"),
        SpineLabel.L3: Code("36470004", "SCT", "L3 vertebra"),
        SpineLabel.L4: Code("11994002", "SCT", "L4 vertebra"),
        SpineLabel.L5: Code("49668003", "SCT", "L5 vertebra"),
        SpineLabel.S1: private("S-S1", "S1 vertebra"),
        SpineLabel.L1_L2: Code("80064006", "SCT", "L1/L2 disc"),
        SpineLabel.L2_L3: Code("67459009", "SCT", "L2/L3 disc"),
        SpineLabel.L3_L4: Code("62551000", "SCT", "L3/L4 disc"),
        SpineLabel.L4_L5: Code("84020006", "SCT", "L4/L5 disc"),
        SpineLabel.L5_S1: Code("715056000", "SCT", "L5/S1 disc"),
        SpineLabel.SPINAL_CANAL: VERTEBRAL_CANAL,
    }.items()
}

#: Codes of each thigh structure, by label key; the muscle groups are private concepts.
THIGH_STRUCTURES: dict[str, StructureCodes] = {
    ThighLabel.FEMUR.key: StructureCodes(ANATOMICAL_STRUCTURE, FEMUR),
    **{
        label.key: StructureCodes(ANATOMICAL_STRUCTURE, private(value, meaning), THIGH)
        for label, value, meaning in (
            (ThighLabel.QUADRICEPS, "S-QUADRICEPS", "Quadriceps femoris muscle group"),
            (ThighLabel.HAMSTRINGS, "S-HAMSTRINGS", "Hamstring muscle group"),
            (ThighLabel.ADDUCTORS, "S-ADDUCTORS", "Adductor muscle group of thigh"),
            (ThighLabel.SARTORIUS, "S-SARTORIUS", "Sartorius muscle"),
            (ThighLabel.GRACILIS, "S-GRACILIS", "Gracilis muscle"),
        )
    },
    ThighLabel.SUBCUTANEOUS_FAT.key: StructureCodes(TISSUE, FAT, SUBCUTANEOUS_TISSUE),
}


def _merge(*tables: dict[str, StructureCodes]) -> dict[str, StructureCodes]:
    """One table of several label sets; a key in two of them must have the same codes."""
    merged: dict[str, StructureCodes] = {}
    for table in tables:
        for key, coded in table.items():
            if merged.setdefault(key, coded) != coded:
                raise ValueError(f"structure {key!r} has two codings")
    return merged


#: Codes of every structure of every label set (knee, spine, thigh), by label key.
STRUCTURES = _merge(KNEE_STRUCTURES, SPINE_STRUCTURES, THIGH_STRUCTURES)

#: Measured quantity (see msklabel.biomarkers.measurement.UNITS) -> concept name.
QUANTITIES: dict[str, Code] = {
    "volume": Code("118565006", "SCT", "Volume"),
    "area": Code("42798000", "SCT", "Area"),
    "thickness": private("MSKL001", "Cartilage thickness"),
    "t2": Code("113065", "DCM", "T2"),
    "t1rho": private("MSKL002", "T1rho"),
    "height": Code("121207", "DCM", "Height"),
    "cross_sectional_area": private("MSKL003", "Cross-sectional area"),
    "voxels": private("MSKL004", "Number of voxels of segment"),
    "t2_voxels": private("MSKL005", "Number of voxels of T2 statistics"),
    "t1rho_voxels": private("MSKL006", "Number of voxels of T1rho statistics"),
}

#: UCUM units by unit string.
UNITS: dict[str, Code] = {
    "mm3": Code("mm3", "UCUM", "cubic millimeter"),
    "mm2": Code("mm2", "UCUM", "square millimeter"),
    "mm": Code("mm", "UCUM", "millimeter"),
    "ms": Code("ms", "UCUM", "millisecond"),
    "{voxels}": Code("{voxels}", "UCUM", "voxels"),
}

#: Statistic (see msklabel.biomarkers.measurement.DERIVATIONS) -> Derivation concept; a
#: count ("count") has none: its concept name says what it counts.
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
