"""Label maps the training sets are made of: the two real DESS knee label maps of the ``mskt``
sample (their values mapped to :class:`~msklabel.labels.KneeLabel`) and phantom label
volumes. The fibula, outside :class:`KneeLabel`, keeps a label value of its own."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from msklabel.data.phantom import PhantomConfig, make_phantom
from msklabel.errors import InputError
from msklabel.labels import KneeLabel
from msklabel.volume import Volume

#: Label value of the fibula in training label maps (outside :class:`KneeLabel`).
FIBULA_LABEL = 12
#: Largest label value a training label map may hold after mapping.
MAX_TISSUE = FIBULA_LABEL

#: Label values of the DESS label maps in the ``mskt`` sample (checked by the position of each
#: structure: the medial side of this right knee lies towards patient left).
DESS_LABELS: Mapping[int, int] = {
    1: KneeLabel.FEMORAL_CARTILAGE,
    2: KneeLabel.MEDIAL_TIBIAL_CARTILAGE,
    3: KneeLabel.LATERAL_TIBIAL_CARTILAGE,
    4: KneeLabel.PATELLAR_CARTILAGE,
    5: KneeLabel.FEMUR,
    6: KneeLabel.TIBIA,
    7: KneeLabel.PATELLA,
    8: FIBULA_LABEL,
    9: KneeLabel.LATERAL_MENISCUS,
    10: KneeLabel.MEDIAL_MENISCUS,
}
#: ``right_knee_example.nrrd`` uses the first seven DESS values (no fibula, no menisci).
RIGHT_KNEE_LABELS: Mapping[int, int] = {k: v for k, v in DESS_LABELS.items() if k <= 7}


def phantom_labels(
    seed: int, orientation: str, spacing: tuple[float, float, float], thickness: float = 2.2
) -> Volume:
    """The label volume of one phantom (no echoes are simulated)."""
    plates = ("femoral", "medial_tibial", "lateral_tibial", "patellar")
    config = PhantomConfig(
        seed=seed,
        orientation=orientation,  # type: ignore[arg-type]
        spacing=spacing,
        echo_times=(10.0,),
        supersampling=1,
        cartilage_thickness_mm={f"{plate}_cartilage": thickness for plate in plates},
    )
    return make_phantom(config).labels


def read_nrrd_labels(path: str | os.PathLike[str], mapping: Mapping[int, int]) -> Volume:
    """A label map from an NRRD file (LPS space), its values mapped (others become 0)."""
    import nrrd

    try:
        data, header = nrrd.read(str(path))
    except (OSError, nrrd.NRRDError) as error:
        raise InputError(path, f"not a readable NRRD label map ({error})") from None
    if data.ndim != 3 or header.get("space") != "left-posterior-superior":
        raise InputError(path, "expected a 3D label map in left-posterior-superior space")
    lookup = np.zeros(int(data.max()) + 1, np.uint8)
    for value, label in mapping.items():
        if value < lookup.size:
            lookup[value] = label
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(header["space directions"], float).T
    affine[:3, 3] = header["space origin"]
    return Volume(lookup[np.clip(data, 0, None).astype(np.int64)], affine)
