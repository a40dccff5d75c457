"""Prompts for promptable segmentation, per label, in voxel coordinates of the input volume.

Coordinates follow :class:`~msklabel.volume.Volume`: ``slice``, ``row``, ``column`` indices.
Boxes are inclusive: a box from row 10 to row 20 covers rows 10 through 20. The JSON form is
documented in ``docs/prompts.md``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from msklabel.errors import InputError
from msklabel.labels import KneeLabel

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Point:
    """A click on one slice: ``positive`` for foreground, otherwise background."""

    slice: int
    row: float
    column: float
    positive: bool = True

    def check(self, shape: tuple[int, int, int]) -> None:
        _check_slice(self.slice, shape)
        if not (0 <= self.row <= shape[1] - 1 and 0 <= self.column <= shape[2] - 1):
            raise ValueError(f"point ({self.row}, {self.column}) lies outside the slice")


@dataclass(frozen=True)
class Box:
    """An inclusive box on one slice, in row and column indices."""

    slice: int
    row_min: float
    column_min: float
    row_max: float
    column_max: float

    def __post_init__(self) -> None:
        if self.row_max < self.row_min or self.column_max < self.column_min:
            raise ValueError(f"box {self} has a maximum below its minimum")

    def check(self, shape: tuple[int, int, int]) -> None:
        _check_slice(self.slice, shape)
        if self.row_min < 0 or self.column_min < 0:
            raise ValueError(f"box {self} starts outside the slice")
        if self.row_max > shape[1] - 1 or self.column_max > shape[2] - 1:
            raise ValueError(f"box {self} ends outside the slice")

    @property
    def xyxy(self) -> np.ndarray:
        """``(column_min, row_min, column_max, row_max)``, the order SAM-like models expect."""
        return np.array([self.column_min, self.row_min, self.column_max, self.row_max], float)

    @classmethod
    def around(cls, mask: np.ndarray, slice: int, margin: float = 0.0) -> Box | None:
        """The box around a 2D mask grown by ``margin`` pixels (inside the slice); None if empty."""
        rows, columns = np.nonzero(mask)
        if rows.size == 0:
            return None
        high_row, high_column = mask.shape[0] - 1, mask.shape[1] - 1
        return cls(
            slice,
            max(rows.min() - margin, 0.0),
            max(columns.min() - margin, 0.0),
            min(rows.max() + margin, high_row),
            min(columns.max() + margin, high_column),
        )


@dataclass(frozen=True)
class Box3D:
    """An inclusive box over a range of slices: the same 2D box on each of them."""

    slice_min: int
    slice_max: int
    row_min: float
    column_min: float
    row_max: float
    column_max: float

    def __post_init__(self) -> None:
        if self.slice_max < self.slice_min:
            raise ValueError(f"box {self} has slice_max below slice_min")

    def check(self, shape: tuple[int, int, int]) -> None:
        for box in self.boxes():
            box.check(shape)

    def boxes(self) -> Iterator[Box]:
        """The 2D box on each slice of the range."""
        for index in range(self.slice_min, self.slice_max + 1):
            yield Box(index, self.row_min, self.column_min, self.row_max, self.column_max)


@dataclass(frozen=True)
class LabelPrompt:
    """Everything that prompts one label: clicks, 2D boxes, a 3D box and a previous mask.

    ``mask`` is a boolean volume of the input's shape (e.g. the label from an earlier call); it
    is given to the model on every prompted slice, and alone (without clicks or boxes) it
    prompts with its own box on each slice where it is set. With ``propagate``, the result of the
    prompted slices is carried to the neighbouring slices until the structure ends; a ``guide``
    (a boolean volume of the input's shape: where another model places the structure) then says
    where each next slice's structure lies and where it ends; on the prompted slices it gives
    the box that clicks on the structure ask for (:mod:`msklabel.segment.clicks`).
    """

    label: int
    points: tuple[Point, ...] = ()
    boxes: tuple[Box, ...] = ()
    box3d: Box3D | None = None
    mask: np.ndarray | None = field(default=None, compare=False, repr=False)
    propagate: bool = False
    guide: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if int(self.label) <= 0:
            raise ValueError(f"label values start at 1, got {self.label}")
        object.__setattr__(self, "label", int(self.label))
        object.__setattr__(self, "points", tuple(self.points))
        object.__setattr__(self, "boxes", tuple(self.boxes))
        for name in ("mask", "guide"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=bool))
        if not (self.points or self.boxes or self.box3d or self.mask is not None):
            raise ValueError(f"label {self.label} has no prompt")
        slices = [box.slice for box in self.boxes]
        if self.box3d is not None:
            slices += range(self.box3d.slice_min, self.box3d.slice_max + 1)
        if len(slices) != len(set(slices)):
            raise ValueError(f"label {self.label} has more than one box on a slice")

    def check(self, shape: tuple[int, int, int]) -> None:
        """Raise ValueError if any prompt lies outside a volume of ``shape``."""
        for prompt in (*self.points, *self.boxes, *([self.box3d] if self.box3d else [])):
            prompt.check(shape)
        for name in ("mask", "guide"):
            volume = getattr(self, name)
            if volume is not None and volume.shape != shape:
                raise ValueError(f"{name} of shape {volume.shape} for a volume of shape {shape}")

    def slices(self) -> list[int]:
        """The slices that this label prompts directly, in order."""
        found = {point.slice for point in self.points} | {box.slice for box in self.all_boxes()}
        if self.mask is not None:
            found |= set(np.flatnonzero(self.mask.any(axis=(1, 2))).tolist())
        return sorted(found)

    def all_boxes(self) -> list[Box]:
        return [*self.boxes, *(self.box3d.boxes() if self.box3d else ())]

    def on_slice(self, index: int) -> SlicePrompt:
        """The prompt for one slice (empty if this label does not prompt it)."""
        points = [point for point in self.points if point.slice == index]
        box = next((box for box in self.all_boxes() if box.slice == index), None)
        mask = None
        if self.mask is not None and self.mask[index].any():
            mask = self.mask[index]
            if box is None and not points:
                box = Box.around(mask, index)
        return SlicePrompt(
            coordinates=np.array([[p.column, p.row] for p in points], float).reshape(-1, 2),
            positive=np.array([p.positive for p in points], bool),
            box=None if box is None else box.xyxy,
            mask=mask,
        )


@dataclass(frozen=True)
class SlicePrompt:
    """A prompt on one 2D slice in pixel coordinates, as backends consume it.

    ``coordinates`` are ``(x, y)`` = ``(column, row)`` pairs; ``box`` is
    ``(x_min, y_min, x_max, y_max)``; ``mask`` is a boolean slice or None.
    """

    coordinates: np.ndarray
    positive: np.ndarray
    box: np.ndarray | None = None
    mask: np.ndarray | None = field(default=None, compare=False)

    @classmethod
    def of_box(cls, box: Box) -> SlicePrompt:
        """A prompt made of one box."""
        return cls(np.empty((0, 2)), np.empty(0, bool), box.xyxy)

    @property
    def empty(self) -> bool:
        return len(self.coordinates) == 0 and self.box is None and self.mask is None


def as_prompts(prompts: Iterable[LabelPrompt] | LabelPrompt) -> tuple[LabelPrompt, ...]:
    """A tuple of label prompts, each label at most once."""
    found = (prompts,) if isinstance(prompts, LabelPrompt) else tuple(prompts)
    labels = [prompt.label for prompt in found]
    if len(labels) != len(set(labels)):
        raise ValueError(f"a label is prompted twice: {labels}")
    if not found:
        raise ValueError("no prompts")
    return found


def load_prompts(path: str | os.PathLike[str]) -> tuple[LabelPrompt, ...]:
    """Read label prompts from a JSON file (format in ``docs/prompts.md``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise InputError(path, "no such prompts file") from None
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(path, f"not a readable JSON file ({error})") from None
    try:
        return prompts_from_dict(document)
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(path, f"invalid prompts: {_describe(error)}") from None


def save_prompts(prompts: Iterable[LabelPrompt], path: str | os.PathLike[str]) -> None:
    """Write label prompts as JSON (previous masks are not written)."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(prompts_to_dict(prompts), handle, indent=2)


def prompts_from_dict(document: Mapping[str, Any]) -> tuple[LabelPrompt, ...]:
    """Build label prompts from the parsed JSON document."""
    if not isinstance(document, Mapping):
        raise TypeError("the document must be a JSON object")
    _check_keys(document, {"version", "labels"}, "document")
    if document.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise ValueError(f"unsupported version {document['version']!r}")
    entries = document["labels"]
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise TypeError("'labels' must be a list")
    return as_prompts(_label_from_dict(entry, number) for number, entry in enumerate(entries))


def prompts_to_dict(prompts: Iterable[LabelPrompt]) -> dict[str, Any]:
    """The JSON document for label prompts."""
    labels = []
    for prompt in as_prompts(prompts):
        entry: dict[str, Any] = {"label": prompt.label}
        if prompt.points:
            entry["points"] = [_fields(point) for point in prompt.points]
        if prompt.boxes:
            entry["boxes"] = [_fields(box) for box in prompt.boxes]
        if prompt.box3d:
            entry["box3d"] = _fields(prompt.box3d)
        if prompt.propagate:
            entry["propagate"] = True
        labels.append(entry)
    return {"version": FORMAT_VERSION, "labels": labels}


_POINT_KEYS = {"slice", "row", "column", "positive"}
_BOX_KEYS = {"slice", "row_min", "column_min", "row_max", "column_max"}
_BOX3D_KEYS = {"slice_min", "slice_max", "row_min", "column_min", "row_max", "column_max"}


def _label_from_dict(entry: Any, number: int) -> LabelPrompt:
    where = f"labels[{number}]"
    if not isinstance(entry, Mapping):
        raise TypeError(f"{where} must be an object")
    _check_keys(entry, {"label", "points", "boxes", "box3d", "propagate"}, where)
    try:
        return LabelPrompt(
            label=_label_value(entry["label"]),
            points=tuple(
                Point(**_checked(item, _POINT_KEYS, f"{where}.points"))
                for item in entry.get("points", ())
            ),
            boxes=tuple(
                Box(**_checked(item, _BOX_KEYS, f"{where}.boxes"))
                for item in entry.get("boxes", ())
            ),
            box3d=Box3D(**_checked(entry["box3d"], _BOX3D_KEYS, f"{where}.box3d"))
            if "box3d" in entry
            else None,
            propagate=_boolean(entry.get("propagate", False), f"{where}.propagate"),
        )
    except KeyError as error:
        raise KeyError(f"{where}: missing {error}") from None


def _label_value(value: Any) -> int:
    if isinstance(value, str):
        try:
            return int(KneeLabel[value.upper()])
        except KeyError:
            names = ", ".join(label.key for label in KneeLabel)
            raise ValueError(f"unknown label name {value!r} (known: {names})") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a label must be an integer or a name, got {value!r}")
    return value


def _checked(item: Any, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise TypeError(f"{where} entries must be objects")
    _check_keys(item, keys, where)
    values = dict(item)
    for key, value in values.items():
        if key == "positive":
            values[key] = _boolean(value, f"{where}.positive")
        elif key.startswith("slice"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{where}.{key} must be an integer, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{where}.{key} must be a number, got {value!r}")
    return values


def _check_keys(item: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(item) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(allowed)})")


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{where} must be true or false, got {value!r}")
    return value


def _fields(prompt: Point | Box | Box3D) -> dict[str, Any]:
    return {name: getattr(prompt, name) for name in prompt.__dataclass_fields__}


def _describe(error: Exception) -> str:
    return str(error.args[0]) if isinstance(error, KeyError) else str(error)


def _check_slice(index: int, shape: tuple[int, int, int]) -> None:
    if not 0 <= index < shape[0]:
        raise ValueError(f"slice {index} outside 0..{shape[0] - 1}")
