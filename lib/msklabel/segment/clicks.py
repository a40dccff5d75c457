"""Clicks on a structure another model has found: the box around that model's part.

A box-only model (LiteMedSAM) answers a lone click with a box that grows from the click while
the mask touches its edge, which stops as soon as the model outlines some piece of the
structure: on the real sample a click on the femur gave a fragment (Dice 0.07 against the
knee network's femur; docs/prompts.md). Where a ``guide`` (where another model places the
structure, e.g. the knee network's labels) has a part under a positive click, the model is
asked for the box around that part instead, one decoder pass, and its answer is kept when it
agrees with the part (the answer to a box around a thin plate is mostly bone: then the click
is answered as before). :class:`~msklabel.segment.engine.Session` does this for every prompt
with a guide, for the seed slices of a propagation too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from scipy import ndimage

from msklabel.segment.backends.base import SliceMask
from msklabel.segment.overlap import dice
from msklabel.segment.prompts import Box, SlicePrompt

#: Pixels added around the guide's part to make the click's box.
GUIDE_MARGIN = 2.0
#: Least Dice between the answer to that box and the guide's part for the answer to be kept.
MIN_GUIDE_AGREEMENT = 0.5


def guided_click(
    index: int,
    prompt: SlicePrompt,
    guide: np.ndarray,
    predict: Callable[[int, SlicePrompt], SliceMask],
) -> SliceMask:
    """The answer on slice ``index`` to ``prompt``'s clicks, with ``guide`` (a boolean slice)
    giving the box: the answer to the box around the guide's parts (8-connected) under the
    positive clicks if it agrees with them (:data:`MIN_GUIDE_AGREEMENT`), else ``predict``'s
    answer to the clicks alone. A prompt with a box or a mask is answered as it is."""
    part = None if prompt.box is not None or prompt.mask is not None else _part_under(guide, prompt)
    if part is not None:
        box = Box.around(part, index, GUIDE_MARGIN)
        assert box is not None  # the part holds a click
        answer = predict(index, replace(prompt, box=box.xyxy))
        if dice(answer.mask, part) >= MIN_GUIDE_AGREEMENT:
            return answer
    return predict(index, prompt)


def _part_under(guide: np.ndarray, prompt: SlicePrompt) -> np.ndarray | None:
    """The guide's parts that hold a positive click of ``prompt``; None if none does."""
    parts, _ = ndimage.label(guide, structure=np.ones((3, 3), bool))
    clicks = np.round(prompt.coordinates[prompt.positive]).astype(int)
    hit = {int(parts[row, column]) for column, row in clicks} - {0}
    return np.isin(parts, sorted(hit)) if hit else None
