"""Box propagation through slices for 2D promptable models (SAM, MedSAM, LiteMedSAM).

Each next slice is prompted with the box around the previous slice's mask, grown by a margin,
until the structure ends: the mask vanishes or shrinks far below the largest mask of the run,
the model rates it poorly, or it no longer overlaps the previous one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from msklabel.segment.backends.base import SliceMask
from msklabel.segment.prompts import Box, SlicePrompt


@dataclass(frozen=True)
class StopRule:
    """When propagation decides that the structure has ended on a slice.

    ``min_area``: fewest pixels of a kept mask. ``min_relative_area``: least area as a share of
    the largest mask of the run (a model prompted with ever smaller boxes keeps answering with
    small confident masks past a structure's end). ``min_score``: lowest predicted IoU.
    ``min_overlap``: least share of the new mask that must lie inside the previous one.
    ``margin``: pixels added around the previous mask's box.
    """

    min_area: int = 10
    min_relative_area: float = 0.2
    min_score: float = 0.5
    min_overlap: float = 0.3
    margin: float = 3.0

    def __post_init__(self) -> None:
        shares = (self.min_overlap, self.min_relative_area)
        if self.min_area < 1 or not all(0 <= v <= 1 for v in shares) or self.margin < 0:
            raise ValueError(f"invalid stop rule {self}")

    def continues(self, current: SliceMask, previous: SliceMask, largest_area: int) -> bool:
        mask = current.mask
        area = int(mask.sum())
        too_small = area < max(self.min_area, self.min_relative_area * largest_area)
        if too_small or current.score < self.min_score:
            return False
        return float((mask & previous.mask).sum()) / area >= self.min_overlap


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
                box = Box.around(previous.mask, index, rule.margin)
                if box is None:
                    break
                current = predict(index, SlicePrompt.of_box(box))
                if not rule.continues(current, previous, largest):
                    break
                results[index] = previous = current
                largest = max(largest, int(current.mask.sum()))
                index += step
    return results
