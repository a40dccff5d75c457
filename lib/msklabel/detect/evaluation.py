"""How good the detector is on labelled volumes: box recall and precision at IoU 0.5, and
the Dice of detector-prompted segmentation next to the Dice with boxes from the truth."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from msklabel.detect.automatic import prompts_for, segment_bones_first
from msklabel.detect.consistency import Laterality, Rules, Structure, find_structures
from msklabel.detect.detector import Detector
from msklabel.labels import KneeLabel
from msklabel.segment import Box, LabelPrompt, Segmenter
from msklabel.segment.overlap import dice
from msklabel.volume import Volume

#: A detected box matches the true one at this intersection over union.
IOU_MATCH = 0.5


@dataclass(frozen=True)
class BoxScore:
    """Slice-level box counts of one structure."""

    true_positives: int
    false_negatives: int
    false_positives: int

    @property
    def recall(self) -> float:
        found = self.true_positives + self.false_negatives
        return self.true_positives / found if found else float("nan")

    @property
    def precision(self) -> float:
        made = self.true_positives + self.false_positives
        return self.true_positives / made if made else float("nan")

    def __add__(self, other: BoxScore) -> BoxScore:
        return BoxScore(
            *(a + b for a, b in zip(asdict(self).values(), asdict(other).values(), strict=True))
        )

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "recall": self.recall, "precision": self.precision}


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two inclusive pixel boxes."""
    rows = min(a.row_max, b.row_max) - max(a.row_min, b.row_min) + 1
    columns = min(a.column_max, b.column_max) - max(a.column_min, b.column_min) + 1
    inter = max(rows, 0.0) * max(columns, 0.0)

    def area(box: Box) -> float:
        return (box.row_max - box.row_min + 1) * (box.column_max - box.column_min + 1)

    return inter / (area(a) + area(b) - inter)


def truth_boxes(truth: Volume, label: int, slices: Iterable[int] | None = None) -> dict[int, Box]:
    """The box around ``label`` on every slice (of ``slices``) where the truth holds it."""
    chosen = range(truth.shape[0]) if slices is None else slices
    found = {k: Box.around(truth.array[k] == label, k) for k in chosen}
    return {k: box for k, box in found.items() if box is not None}


def score_boxes(
    structures: Sequence[Structure], truth: Volume, labels: Iterable[int]
) -> dict[KneeLabel, BoxScore]:
    """Per label, slice-level box matches of the found structures against the truth."""
    found = {s.label: {box.slice: box for box in s.boxes} for s in structures}
    result = {}
    for label in labels:
        expected, detected = truth_boxes(truth, label), found.get(KneeLabel(label), {})
        hits = sum(
            1
            for k, box in detected.items()
            if k in expected and box_iou(box, expected[k]) >= IOU_MATCH
        )
        result[KneeLabel(label)] = BoxScore(hits, len(expected) - hits, len(detected) - hits)
    return result


@dataclass(frozen=True)
class Evaluation:
    """Box scores and Dice (detector-prompted and truth-box-prompted) per structure."""

    boxes: dict[KneeLabel, BoxScore]
    dice_detected: dict[KneeLabel, float]
    dice_oracle: dict[KneeLabel, float]

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            label.key: {
                **self.boxes[label].as_dict(),
                "dice_detected": self.dice_detected.get(label, float("nan")),
                "dice_oracle": self.dice_oracle.get(label, float("nan")),
            }
            for label in self.boxes
        }


def evaluate(
    image: Volume,
    truth: Volume,
    detector: Detector,
    segmenter: Segmenter | None = None,
    labels: Iterable[int] = tuple(KneeLabel)[:9],
    slices: Iterable[int] | None = None,
    laterality: Laterality | None = None,
    rules: Rules | None = None,
) -> Evaluation:
    """Detect in ``image``, score the boxes against ``truth`` and, with a ``segmenter``,
    segment once from the detector's boxes and once from the truth's boxes.

    ``slices`` limits the segmentations (and their Dice) to those slices, to keep it cheap.
    """
    labels = [KneeLabel(v) for v in labels]
    structures = [
        s
        for s in find_structures(detector.detect(image), image, laterality, rules)
        if s.label in labels
    ]
    boxes = score_boxes(structures, truth, labels)
    if segmenter is None:
        return Evaluation(boxes, {}, {})
    chosen = sorted(set(range(image.shape[0]) if slices is None else slices))
    keep = np.zeros(image.shape[0], bool)
    keep[chosen] = True
    session = segmenter.session(image)
    detected_prompts = [
        LabelPrompt(p.label, boxes=[b for b in p.boxes if keep[b.slice]])
        for p in prompts_for(structures)
        if any(keep[b.slice] for b in p.boxes)
    ]
    oracle_prompts = [
        LabelPrompt(label, boxes=list(found.values()))
        for label in labels
        if (found := truth_boxes(truth, label, chosen))
    ]
    detected = segment_bones_first(session, detected_prompts) if detected_prompts else None
    oracle = segment_bones_first(session, oracle_prompts)
    dice_detected, dice_oracle = {}, {}
    for label in labels:
        expected = (truth.array == label) & keep[:, None, None]
        if not expected.any():
            continue
        got = detected.mask(label) & keep[:, None, None] if detected else np.zeros_like(expected)
        dice_detected[label] = dice(got, expected)
        dice_oracle[label] = dice(oracle.mask(label) & keep[:, None, None], expected)
    return Evaluation(boxes, dice_detected, dice_oracle)
