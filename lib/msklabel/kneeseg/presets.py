"""The label volumes the shipped segmentation network learns from, and the training presets.

``default``: the two real DESS knee label maps of the ``mskt`` sample (values mapped to
:class:`~msklabel.labels.KneeLabel`; the second has no menisci and no fibula, which the loss
takes into account) and one sagittal knee phantom (its muscle and fat are tissue, not
targets). ``phantom``: the phantom alone, a short run (tests, quick checks).
"""

from __future__ import annotations

from tqdm import tqdm

from msklabel.data.labelmaps import (
    DESS_LABELS,
    RIGHT_KNEE_LABELS,
    phantom_labels,
    read_nrrd_labels,
)
from msklabel.kneeseg.training import TrainConfig
from msklabel.volume import Volume

#: The phantom of the default training set: (seed, orientation, spacing, cartilage mm).
TRAINING_PHANTOM = (1, "sagittal", (0.7, 0.5, 0.5), 2.2)

PRESETS: dict[str, TrainConfig] = {
    "default": TrainConfig(steps=6000, batch_size=8, seed=0),
    "phantom": TrainConfig(steps=60, batch_size=4, seed=0),
}


def training_volumes(preset: str, progress: bool = True) -> list[Volume]:
    """The label volumes of a preset (the sample is fetched, and cached, for ``default``)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    with tqdm(total=1, desc="phantom", disable=not progress) as bar:
        volumes = [phantom_labels(*TRAINING_PHANTOM)]
        bar.update()
    if preset == "default":
        from msklabel.data.sample import fetch_sample

        sample = fetch_sample()
        volumes.append(read_nrrd_labels(sample.dess_labels, DESS_LABELS))
        volumes.append(read_nrrd_labels(sample.right_knee_labels, RIGHT_KNEE_LABELS))
    return volumes
