"""The learning curve of a trained model: after each training round, its Dice per structure
on a held-out share of the datastore's final labels.

The held-out share is fixed by the image id (:func:`is_held_out`) and by what earlier rounds
trained on: an image a round trained on is never held out later, and an image held out is
never trained on while it stays held out. When every final label so far falls in the
held-out share (a first label, say), the round trains on all of them rather than refuse to
train: those images leave the held-out share for good and the round records why it has no
score. The curve is kept beside the model's weights as ``<name>.curve.json`` (each point
lists the image ids it trained on) and drawn as ``<name>.curve.png``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from msklabel.io.nifti import read_nifti
from msklabel.segment.overlap import dice
from msklabel.volume import Volume

#: Share of image ids held out from training to score each round on.
HELD_OUT_SHARE = 0.2

Pair = tuple[str | os.PathLike[str], str | os.PathLike[str]]
#: Segments an image given its reference label map (which promptable models take their
#: oracle boxes from); returns a label map with the reference's values.
Segment = Callable[[Volume, Volume], np.ndarray]


def image_id(path: str | os.PathLike[str]) -> str:
    """The datastore's id of an image file: its name without ``.nii.gz`` or ``.nii``."""
    name = Path(path).name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_held_out(identifier: str) -> bool:
    """Whether the image ``identifier`` is in the held-out share: the first 8 hex digits of
    its SHA-256, read as a fraction of 16**8, are below :data:`HELD_OUT_SHARE`."""
    fraction = int(hashlib.sha256(identifier.encode()).hexdigest()[:8], 16) / 16**8
    return fraction < HELD_OUT_SHARE


def split_held_out(
    pairs: Sequence[Pair], trained_before: Collection[str] = ()
) -> tuple[list[Pair], list[Pair]]:
    """``pairs`` (image file, label file) as those to train on and those held out: held out
    where the id is in the share and was not in ``trained_before``."""
    seen = set(trained_before)
    held = [p for p in pairs if image_id(p[0]) not in seen and is_held_out(image_id(p[0]))]
    return [pair for pair in pairs if pair not in held], held


def held_out_dice(
    pairs: Sequence[Pair], segment: Segment, structures: Mapping[str, int]
) -> dict[str, float]:
    """Mean Dice per structure (name: label value) over the ``pairs`` whose reference holds
    it, of what ``segment`` makes of each image."""
    scores: dict[str, list[float]] = {name: [] for name in structures}
    for image_file, label_file in pairs:
        image, reference = read_nifti(image_file), read_nifti(label_file)
        truth = np.asarray(reference.array)
        predicted = segment(image, reference)
        for name, value in structures.items():
            if (truth == value).any():
                scores[name].append(dice(predicted == value, truth == value))
    return {name: float(np.mean(values)) for name, values in scores.items() if values}


def record_round(
    curve: LearningCurve,
    weights_id: str,
    trained: Sequence[Pair],
    held: Sequence[Pair],
    segment: Segment,
    structures: Mapping[str, int],
) -> dict[str, Any]:
    """Score the weights ``weights_id`` (trained on the ``trained`` pairs) on the ``held``
    out pairs with ``segment`` and add the point to ``curve``; with none held out, add a point
    saying so."""
    ids = [image_id(image) for image, _ in trained]
    if not held:
        reason = (f"none of the {len(ids)} final labels trained on is held out "
                  f"({HELD_OUT_SHARE:.0%} of image ids, by hash, never one trained on "
                  "before; with no other label to train on, all were used)")  # fmt: skip
        return curve.add(weights_id, ids, 0, reason=reason)
    return curve.add(weights_id, ids, len(held), held_out_dice(held, segment, structures))


def training_share(
    pairs: Sequence[Pair], curve: LearningCurve | None = None
) -> tuple[list[Pair], list[Pair]]:
    """:func:`split_held_out` given what ``curve``'s rounds trained on; where nothing would be
    left to train on, all ``pairs`` are trained on and none is held out."""
    train, held = split_held_out(pairs, curve.trained_ids() if curve is not None else ())
    return (list(pairs), []) if not train else (train, held)


class LearningCurve:
    """The points of one model's curve in ``folder`` (``<name>.curve.json``), and its plot
    (``<name>.curve.png``)."""

    def __init__(self, folder: str | os.PathLike[str], name: str) -> None:
        self.path = Path(folder) / f"{name}.curve.json"
        self.plot_path = self.path.with_suffix(".png")
        self.name = name

    def points(self) -> list[dict[str, Any]]:
        """Every round so far, oldest first (empty before the first)."""
        return json.loads(self.path.read_text()) if self.path.is_file() else []

    def trained_ids(self) -> set[str]:
        """The image ids any recorded round trained on."""
        return {i for point in self.points() for i in point.get("trained_on", [])}

    def add(
        self,
        weights_id: str,
        trained: Sequence[str],
        held_out: int,
        dice: Mapping[str, float] | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Record the next round: the weights it published, the image ids of the final labels
        it trained on, how many it held out, and the held-out Dice per structure, or the
        ``reason`` there is none. Returns the point; the plot is redrawn."""
        points = self.points()
        point = {
            "round": len(points) + 1,
            "weights_id": weights_id,
            "training_labels": len(trained),
            "trained_on": sorted(trained),
            "held_out_labels": held_out,
            "dice": dict(dice or {}),
            "reason": reason,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        points.append(point)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        with os.fdopen(handle, "w") as file:
            json.dump(points, file, indent=1)
        os.replace(temporary, self.path)
        self._plot(points)
        return point

    def _plot(self, points: list[dict[str, Any]]) -> None:
        """Held-out Dice per structure against the number of training labels."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(6, 4))
        scored = [p for p in points if p["dice"]]
        for structure in sorted({s for p in scored for s in p["dice"]}):
            shown = [p for p in scored if structure in p["dice"]]
            axes.plot([p["training_labels"] for p in shown],
                      [p["dice"][structure] for p in shown], "o-", label=structure)  # fmt: skip
        if scored:
            axes.legend(fontsize="small")
        else:
            axes.text(0.5, 0.5, "no round scored yet", ha="center", transform=axes.transAxes)
        axes.set(xlabel="final labels trained on", ylabel="held-out Dice", ylim=(0, 1),
                 title=f"{self.name}: {len(scored)} of {len(points)} rounds scored")  # fmt: skip
        figure.tight_layout()
        handle, temporary = tempfile.mkstemp(dir=self.plot_path.parent, suffix=".png")
        os.close(handle)
        figure.savefig(temporary, dpi=100)
        plt.close(figure)
        os.replace(temporary, self.plot_path)
