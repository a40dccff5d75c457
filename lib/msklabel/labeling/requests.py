"""Infer requests as 3D Slicer and OHIF send them, turned into engine prompts.

Both viewers give voxel indices of the image file in ``[x, y, z]`` = (column, row, slice)
order (Slicer's IJK, OHIF's ``worldToIndex``):

- ``foreground`` / ``background``: lists of points for the structure named by ``label``
  (OHIF and Slicer deepgrow; ``cur_label`` is accepted as OHIF's older name for it);
- label-named lists, ``{"femur": [[x, y, z]], "tibia": [...], "background": [...]}``
  (Slicer and OHIF DeepEdit): every named structure with points is segmented;
- ``roi``: ``[x_min, x_max, y_min, y_max, z_min, z_max]`` (Slicer's ROI), a box on each of
  its slices (on ``slice`` alone when that lies inside it);
- ``slice``: the slice a 2D request was made on.

A request for one structure answers with a binary mask (value 1, as deepgrow viewers
expect); a request naming several answers with their label values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from msklabel.labeling.labelset import LabelSet
from msklabel.segment import Box, Box3D, LabelPrompt, Point


@dataclass(frozen=True)
class PromptRequest:
    """The prompts of a request and the value each structure takes in the answer."""

    prompts: tuple[LabelPrompt, ...]
    label_names: dict[str, int]


def prompts_from_request(
    request: Mapping[str, Any],
    shape: tuple[int, int, int],
    labelset: LabelSet,
    propagate: bool = False,
) -> PromptRequest:
    """The engine prompts of ``request`` on a volume of ``shape`` (slice, row, column).

    Raises ValueError naming the field when a point or box is malformed or outside the image.
    """
    background = _points(request.get("background"), "background", shape, positive=False)
    named = {
        key.lower(): _points(value, key, shape, positive=True)
        for key, value in request.items()
        if key in labelset and isinstance(value, list)
    }
    named = {name: points for name, points in named.items() if points}
    if named and not request.get("foreground"):
        prompts = tuple(
            _prompt(labelset.value(name), points, background, None, propagate)
            for name, points in named.items()
        )
        return PromptRequest(prompts, {name: labelset.value(name) for name in named})
    label = str(request.get("label") or request.get("cur_label") or labelset.names[0])
    foreground = _points(request.get("foreground"), "foreground", shape, positive=True)
    box = _roi(request.get("roi"), request.get("slice"), shape)
    if not foreground and box is None:
        raise ValueError("the request has no foreground point and no roi")
    return PromptRequest((_prompt(1, foreground, background, box, propagate),), {label: 1})


def _prompt(
    value: int,
    foreground: list[Point],
    background: list[Point],
    box: Box | Box3D | None,
    propagate: bool,
) -> LabelPrompt:
    slices = {point.slice for point in foreground}
    if isinstance(box, Box):
        slices.add(box.slice)
    elif isinstance(box, Box3D):
        slices.update(range(box.slice_min, box.slice_max + 1))
    negatives = tuple(point for point in background if point.slice in slices)
    return LabelPrompt(
        value,
        points=(*foreground, *negatives),
        boxes=(box,) if isinstance(box, Box) else (),
        box3d=box if isinstance(box, Box3D) else None,
        propagate=propagate,
    )


def _points(value: Any, field: str, shape: tuple[int, int, int], positive: bool) -> list[Point]:
    if value in (None, ""):
        return []
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{field!r} must be a list of [x, y, z] points, got {value!r}")
    points = []
    for item in value:
        if not isinstance(item, Sequence) or len(item) != 3:
            raise ValueError(f"{field!r}: a point must be [x, y, z], got {item!r}")
        x, y, z = (float(coordinate) for coordinate in item)
        point = Point(round(z), y, x, positive)
        try:
            point.check(shape)
        except ValueError as error:
            raise ValueError(
                f"{field!r}: point {list(item)} is outside the image ({error})"
            ) from None
        points.append(point)
    return points


def _roi(value: Any, slice_index: Any, shape: tuple[int, int, int]) -> Box | Box3D | None:
    if not value:
        return None
    if not isinstance(value, Sequence) or len(value) != 6:
        raise ValueError(f"'roi' must be [x_min, x_max, y_min, y_max, z_min, z_max], got {value!r}")
    (x0, x1), (y0, y1), (z0, z1) = (sorted(float(v) for v in value[i : i + 2]) for i in (0, 2, 4))
    high = (shape[0] - 1, shape[1] - 1, shape[2] - 1)
    x0, x1 = max(x0, 0.0), min(x1, high[2])
    y0, y1 = max(y0, 0.0), min(y1, high[1])
    first, last = max(round(z0), 0), min(round(z1), high[0])
    if x1 <= x0 or y1 <= y0 or last < first:
        raise ValueError(f"'roi' {list(value)} does not cover any part of the image")
    if slice_index is not None and first <= int(slice_index) <= last:
        return Box(int(slice_index), y0, x0, y1, x1)
    if first == last:
        return Box(first, y0, x0, y1, x1)
    return Box3D(first, last, y0, x0, y1, x1)
