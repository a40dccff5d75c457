"""From per-slice detections to structures: thresholds, sides and 3D consistency.

A structure occupies one contiguous range of slices (femoral cartilage at most two: the
condyles' plates may lie apart across the intercondylar notch). Per class, slices whose score
passes the ``extend`` threshold are candidates, gaps of up to ``max_gap`` slices between them
are bridged (boxes interpolated), and only the run with the highest total score survives,
provided it holds at least ``min_run`` slices above the main threshold (an isolated detection
is dropped; with ``extend`` below the threshold a confident run grows into its weaker ends,
as in hysteresis thresholding). Tibial cartilage and menisci are split into medial and
lateral by the slice's position across the knee before that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from msklabel.detect.classes import SIDED, UNSIDED, DetectorClass
from msklabel.detect.detector import SliceDetections
from msklabel.io.acquisition import Laterality
from msklabel.labels import KneeLabel
from msklabel.segment import Box
from msklabel.volume import Volume


@dataclass(frozen=True)
class Structure:
    """One structure found in a volume: its box on each slice of its range and their scores
    (NaN on bridged slices)."""

    label: KneeLabel
    boxes: tuple[Box, ...]
    scores: tuple[float, ...]

    @property
    def slices(self) -> list[int]:
        return [box.slice for box in self.boxes]

    @property
    def best(self) -> Box:
        """The box of the slice with the highest score."""
        return self.boxes[int(np.nanargmax(np.asarray(self.scores)))]


@dataclass(frozen=True)
class Rules:
    """Score threshold per detector class (``default`` for the rest) and range rules."""

    default: float = 0.3
    thresholds: Mapping[DetectorClass, float] | None = None
    extend: float = 0.3
    max_gap: int = 2
    min_run: int = 2
    runs: Mapping[DetectorClass, int] = field(
        default_factory=lambda: {DetectorClass.FEMORAL_CARTILAGE: 2}
    )

    def threshold(self, detector_class: DetectorClass) -> float:
        return (self.thresholds or {}).get(detector_class, self.default)


def find_structures(
    detections: SliceDetections,
    volume: Volume,
    laterality: Laterality | None = None,
    rules: Rules | None = None,
) -> list[Structure]:
    """The structures in ``volume`` from its detections, in label order.

    ``laterality`` says which knee it is; None: the side of the fibula if it was detected,
    otherwise a right knee.
    """
    rules = rules or Rules()
    kept = {c: detections.scores[:, c] >= rules.threshold(c) for c in DetectorClass}
    structures = [_structure(label, c, detections, rules) for c, label in UNSIDED.items()]
    across = _lateral_positions(volume)
    midline = _midline(kept, across)
    laterality = laterality or _laterality_from_fibula(kept, across, midline)
    medial_is_greater = laterality == "right"  # patient left (+x) is medial for a right knee
    for c, (medial, lateral) in SIDED.items():
        on_greater = across > midline
        for label, side in ((medial, on_greater), (lateral, ~on_greater)):
            if not medial_is_greater:
                side = ~side
            structures.append(_structure(label, c, detections, rules, side))
    return sorted((s for s in structures if s is not None), key=lambda s: s.label)


def _lateral_positions(volume: Volume) -> np.ndarray:
    """Each slice centre's patient x (mm, LPS: towards patient left)."""
    rows, columns = volume.shape[1:]
    index = np.stack(
        [
            np.arange(volume.shape[0]),
            np.full(volume.shape[0], rows / 2),
            np.full(volume.shape[0], columns / 2),
        ],
        axis=1,
    )
    return volume.index_to_patient(index)[:, 0]


def _midline(kept: Mapping[DetectorClass, np.ndarray], across: np.ndarray) -> float:
    """The knee's middle across its slices: centre of the tibia's (else femur's) slices."""
    for c in (DetectorClass.TIBIA, DetectorClass.FEMUR):
        if kept[c].any():
            return float(np.median(across[kept[c]]))
    return float(np.median(across))


def _laterality_from_fibula(
    kept: Mapping[DetectorClass, np.ndarray], across: np.ndarray, midline: float
) -> Laterality:
    fibula = kept[DetectorClass.FIBULA]
    if fibula.sum() >= 2:
        # The fibula is lateral: on a right knee it lies towards patient right (-x).
        return "right" if float(np.median(across[fibula])) < midline else "left"
    return "right"


def _structure(
    label: KneeLabel,
    detector_class: DetectorClass,
    detections: SliceDetections,
    rules: Rules,
    allowed: np.ndarray | None = None,
) -> Structure | None:
    """The structure of one label from its class's detections on the ``allowed`` slices."""
    scores = detections.scores[:, detector_class]
    allowed = np.ones(scores.size, bool) if allowed is None else allowed
    threshold = rules.threshold(detector_class)
    strong = (scores >= threshold) & allowed
    weak = (scores >= min(rules.extend, threshold)) & allowed
    runs = best_runs(
        strong, scores, rules.max_gap, rules.min_run, weak, rules.runs.get(detector_class, 1)
    )
    if not runs:
        return None
    boxes, kept = [], []
    for first, last in sorted(runs):
        detected = np.flatnonzero(weak[first : last + 1]) + first
        slices = np.arange(first, last + 1)
        found = detections.boxes[detected, detector_class]
        filled = np.stack([np.interp(slices, detected, found[:, j]) for j in range(4)], axis=1)
        boxes += [
            Box(int(k), *(float(v) for v in box)) for k, box in zip(slices, filled, strict=True)
        ]
        kept += [float(scores[k]) if weak[k] else float("nan") for k in slices]
    return Structure(label, tuple(boxes), tuple(kept))


def best_runs(
    present: np.ndarray,
    scores: np.ndarray,
    max_gap: int,
    min_run: int,
    weak: np.ndarray | None = None,
    count: int = 1,
) -> list[tuple[int, int]]:
    """First and last slices of the best ``count`` contiguous runs of ``weak`` slices (default:
    ``present``) once gaps of up to ``max_gap`` are bridged, best first: the runs with the
    highest total scores among those holding at least ``min_run`` ``present`` slices."""
    found = np.flatnonzero(present if weak is None else weak | present)
    if found.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(found) > max_gap + 1)
    runs = [
        (float(scores[members].sum()), int(members[0]), int(members[-1]))
        for members in np.split(found, breaks + 1)
        if present[members].sum() >= min_run
    ]
    return [(first, last) for _, first, last in sorted(runs, reverse=True)[:count]]
