"""Prompt modes of an evaluation, and the prompts they simulate from a reference mask: oracle
boxes and corrective clicks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from msklabel.segment import Segmentation, Session
from msklabel.segment.prompts import Box, LabelPrompt, Point

#: Kinds of prompt mode: ``automatic`` (a network that needs none), ``detector`` (the
#: shipped detector's boxes), and simulated from the reference: ``oracle-box`` (its box on
#: every slice), ``clicks`` (k corrective clicks per slice) and ``box+clicks``.
KINDS = ("automatic", "detector", "oracle-box", "clicks", "box+clicks")
_PATTERN = re.compile(r"(?P<kind>[a-z+-]+?)(?::(?P<clicks>\d+))?")


@dataclass(frozen=True)
class PromptMode:
    """How a model is prompted; written ``oracle-box``, ``clicks:3``, ``box+clicks:2``."""

    kind: str
    clicks: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown prompt mode {self.kind!r} (known: {', '.join(KINDS)})")
        takes_clicks = self.kind in ("clicks", "box+clicks")
        if takes_clicks != (self.clicks > 0):
            raise ValueError(
                f"{self.kind} needs a number of clicks >= 1, e.g. {self.kind}:3"
                if takes_clicks
                else f"{self.kind} takes no number of clicks"
            )

    @classmethod
    def parse(cls, text: str) -> PromptMode:
        match = _PATTERN.fullmatch(text)
        if match is None:
            raise ValueError(f"cannot read prompt mode {text!r} (e.g. oracle-box, clicks:3)")
        return cls(match["kind"], int(match["clicks"] or 0))

    def __str__(self) -> str:
        return f"{self.kind}:{self.clicks}" if self.clicks else self.kind


def oracle_boxes(reference: np.ndarray) -> tuple[Box, ...]:
    """The box around the reference on every slice where it is set."""
    return tuple(Box.around(reference[k], k) for k in _slices(reference))  # type: ignore[misc]


def next_click(predicted: np.ndarray, reference: np.ndarray, index: int) -> Point | None:
    """A click at the centre (farthest from its border) of the largest error region on
    slice ``index``: positive where the reference is missed, negative where it is exceeded;
    None if the slice has no error."""
    error = predicted[index] != reference[index]
    regions, count = ndimage.label(error)
    if count == 0:
        return None
    sizes = ndimage.sum_labels(error, regions, range(1, count + 1))
    largest = regions == 1 + int(np.argmax(sizes))
    depth = ndimage.distance_transform_edt(np.pad(largest, 1))[1:-1, 1:-1]
    row, column = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return Point(index, float(row), float(column), bool(reference[index][row, column]))


def simulate(
    session: Session, reference: np.ndarray, structures: Sequence[int], mode: PromptMode
) -> Segmentation:
    """Segment ``structures`` (label values) of ``session``'s volume as a user prompting with
    ``mode`` would, the reference label map ``reference`` playing the user.

    Only slices where the reference holds a structure are prompted. ``oracle-box`` gives its
    box on each of them; ``clicks:k`` starts from nothing and ``box+clicks:k`` from the
    boxes' result, then ``k`` times adds on every such slice a click in the largest error
    region (:func:`next_click`) and segments again with all clicks so far. Bones are
    segmented first (:func:`~msklabel.detect.automatic.segment_bones_first`), as in the
    detector mode.
    """
    from msklabel.detect.automatic import segment_bones_first

    if mode.kind not in ("oracle-box", "clicks", "box+clicks"):
        raise ValueError(f"{mode} is not simulated from a reference")
    wanted = {int(s): reference == s for s in structures}
    wanted = {label: mask for label, mask in wanted.items() if mask.any()}
    boxes = {
        label: () if mode.kind == "clicks" else oracle_boxes(mask) for label, mask in wanted.items()
    }
    points: dict[int, tuple[Point, ...]] = {label: () for label in wanted}
    labels = np.zeros(reference.shape, np.uint8)
    result = Segmentation(session.volume.with_array(labels), {})

    def segment() -> Segmentation:
        prompts = [
            LabelPrompt(label, points=points[label], boxes=boxes[label])
            for label in wanted
            if points[label] or boxes[label]
        ]
        return segment_bones_first(session, prompts) if prompts else result

    if mode.kind != "clicks":
        result = segment()
    for _ in range(mode.clicks):
        predicted = result.labels.array
        for label, mask in wanted.items():
            clicks = (next_click(predicted == label, mask, k) for k in _slices(mask))
            points[label] += tuple(click for click in clicks if click is not None)
        result = segment()
    return result


def _slices(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask.any(axis=(1, 2)))
