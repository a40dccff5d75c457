"""The label volumes the shipped detector learns from, and the training presets.

``default``: knee phantoms (varied seeds, orientations, spacings and cartilage thicknesses)
and the two DESS knee label maps of the ``mskt`` sample, their values mapped to
:class:`~msklabel.labels.KneeLabel`. ``phantom``: phantoms only, a short run (tests, quick
checks).
"""

from __future__ import annotations

from tqdm import tqdm

from msklabel.data.labelmaps import (
    DESS_LABELS,
    RIGHT_KNEE_LABELS,
    phantom_labels,
    read_nrrd_labels,
)
from msklabel.data.phantom import PhantomConfig, make_phantom
from msklabel.detect.training import TrainConfig
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
