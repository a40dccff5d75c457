"""The label volumes the shipped detector learns from, and the training presets.

``default``: knee phantoms (varied seeds, orientations, spacings and cartilage thicknesses)
and the two DESS knee label maps of the ``mskt`` sample, their values mapped to
:class:`~msklabel.labels.KneeLabel`. ``phantom``: phantoms only, a short run (tests, quick
checks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
from tqdm import tqdm

from msklabel.data.phantom import PhantomConfig, make_phantom
from msklabel.detect.classes import DESS_LABELS, RIGHT_KNEE_LABELS
from msklabel.detect.training import TrainConfig
from msklabel.errors import InputError
from msklabel.volume import Volume

#: Phantoms of the default training set: (seed, orientation, spacing, cartilage thickness).
TRAINING_PHANTOMS: tuple[tuple[int, str, tuple[float, float, float], float], ...] = (
    (1, "sagittal", (1.0, 0.8, 0.8), 2.2),
    (2, "oblique", (1.2, 0.7, 0.7), 1.6),
    (3, "axial", (1.0, 0.9, 0.9), 3.0),
    (4, "sagittal", (1.5, 0.6, 0.6), 2.8),
    (5, "oblique", (1.0, 0.8, 0.8), 1.2),
)

PRESETS: dict[str, TrainConfig] = {
    "default": TrainConfig(steps=9000, batch_size=16, seed=0),
    "phantom": TrainConfig(steps=300, batch_size=16, seed=0),
}


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


def training_volumes(preset: str, progress: bool = True) -> list[Volume]:
    """The label volumes of a preset (the sample is fetched, and cached, for ``default``)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    specs = TRAINING_PHANTOMS if preset == "default" else TRAINING_PHANTOMS[:2]
    volumes = [phantom_labels(*spec) for spec in tqdm(specs, desc="phantoms", disable=not progress)]
    if preset == "default":
        from msklabel.data.sample import fetch_sample

        sample = fetch_sample()
        volumes.append(read_nrrd_labels(sample.dess_labels, DESS_LABELS))
        volumes.append(read_nrrd_labels(sample.right_knee_labels, RIGHT_KNEE_LABELS))
    return volumes


def held_out_phantom(seed: int, slice_spacing: float = 3.0) -> tuple[Volume, Volume]:
    """A phantom unlike the training ones (its seed, 3 mm slices): its first echo (TE 10 ms)
    and its label volume."""
    config = PhantomConfig(
        seed=seed, spacing=(slice_spacing, 0.6, 0.6), echo_times=(10.0,), supersampling=1
    )
    phantom = make_phantom(config)
    return phantom.echoes[0], phantom.labels
