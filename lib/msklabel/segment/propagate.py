"""Box propagation through slices for 2D promptable models (SAM, MedSAM, LiteMedSAM).

Each next slice is prompted with boxes around the previous slice's mask grown by a few margins;
the answer the model rates best is kept, its holes filled. One tight box alone lets the mask
shrink slice after slice where a bone widens (the phantom femur's condyles). Propagation
stops where the structure ends: the mask vanishes or shrinks far below the largest mask of the
run, the model rates it poorly, or the smaller of the new and previous masks no longer lies
mostly inside the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from msklabel.segment.backends.base import SliceMask
from msklabel.segment.prompts import Box, SlicePrompt

#: Logit given to pixels of a filled hole (just inside the mask).
_FILLED_LOGIT = 0.5


@dataclass(frozen=True)
class StopRule:
    """How propagation prompts the next slice, and when it decides the structure has ended.

    ``min_area``: fewest pixels of a kept mask. ``min_relative_area``: least area as a share of
    the largest mask of the run (a model prompted with ever smaller boxes keeps answering with
    small confident masks past a structure's end). ``min_score``: lowest predicted IoU.
    ``min_overlap``: least share of the smaller of the new and previous masks that must lie
    inside the other (a growing structure contains the previous mask, a shrinking one lies in
    it). ``margins``: pixels added around the previous mask's box, one box per margin.
    """

    min_area: int = 10
    min_relative_area: float = 0.2
    min_score: float = 0.5
    min_overlap: float = 0.5
    margins: tuple[float, ...] = (3.0, 5.0, 7.0)

    def __post_init__(self) -> None:
        shares = (self.min_overlap, self.min_relative_area)
        if self.min_area < 1 or not all(0 <= v <= 1 for v in shares):
            raise ValueError(f"invalid stop rule {self}")
        if not self.margins or min(self.margins) < 0:
            raise ValueError(f"invalid stop rule {self}")

    def continues(self, current: SliceMask, previous: SliceMask, largest_area: int) -> bool:
        mask = current.mask
        area = int(mask.sum())
        too_small = area < max(self.min_area, self.min_relative_area * largest_area)
        if too_small or current.score < self.min_score:
            return False
        smaller = min(area, int(previous.mask.sum()))
        return float((mask & previous.mask).sum()) / smaller >= self.min_overlap


def propagate_boxes(
    seeds: Mapping[int, SliceMask],
    slice_count: int,
    predict: Callable[[int, SlicePrompt], SliceMask],
    rule: StopRule = StopRule(),
) -> dict[int, SliceMask]:
    """Extend ``seeds`` (prompted slices) up and down the volume with box prompts.

    ``predict(slice, prompt)`` answers a prompt on one slice. Propagation from a seed stops
    where the rule says the structure ends or where another result already exists.
    """
    results = dict(seeds)
    for step in (1, -1):
        for seed in sorted(seeds, reverse=step < 0):
            previous, index = seeds[seed], seed + step
            largest = int(previous.mask.sum())
            while 0 <= index < slice_count and index not in results:
                current = _best_answer(index, previous.mask, predict, rule.margins)
                if current is None or not rule.continues(current, previous, largest):
                    break
                results[index] = previous = current
                largest = max(largest, int(current.mask.sum()))
                index += step
    return results


def _best_answer(
    index: int,
    previous: np.ndarray,
    predict: Callable[[int, SlicePrompt], SliceMask],
    margins: tuple[float, ...],
) -> SliceMask | None:
    """The best-rated answer to the boxes around ``previous`` on slice ``index``, holes filled."""
    answers = []
    for margin in margins:
        box = Box.around(previous, index, margin)
        if box is None:
            return None
        answers.append(predict(index, SlicePrompt.of_box(box)))
    return filled(max(answers, key=lambda answer: answer.score))


def filled(answer: SliceMask) -> SliceMask:
    """``answer`` with the holes of its mask filled."""
    mask = answer.mask
    holes = ndimage.binary_fill_holes(mask) & ~mask
    if not holes.any():
        return answer
    return SliceMask(np.where(holes, _FILLED_LOGIT, answer.logits), answer.score)
