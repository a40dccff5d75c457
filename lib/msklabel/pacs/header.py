"""The instance header: what intake keeps of a received instance's header for series selection.

Written at intake, stored as JSON in the status store, read back by the pipeline. It holds
no patient-identifying attribute. Stored rows of every earlier version read back: absent
texts were stored as ``null`` (read as ""), and a key this version does not know is ignored.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

ORIENTATIONS = ("sagittal", "coronal", "axial")


@dataclass(frozen=True)
class InstanceHeader:
    """The header values series selection needs, from one instance."""

    modality: str = ""
    body_part: str = ""
    description: str = ""
    echo_time: float | None = None  #: ms; None when the header has none
    rows: int = 0
    columns: int = 0
    orientation: str = "unknown"  #: one of :data:`ORIENTATIONS`, or "unknown"

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> InstanceHeader:
        echo = dataset.get("EchoTime")
        return cls(
            modality=_text(dataset, "Modality"),
            body_part=_text(dataset, "BodyPartExamined"),
            description=_text(dataset, "SeriesDescription"),
            echo_time=None if echo in (None, "") else float(echo),
            rows=int(dataset.get("Rows") or 0),
            columns=int(dataset.get("Columns") or 0),
            orientation=orientation_of(dataset.get("ImageOrientationPatient")),
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> InstanceHeader:
        """The header stored by :meth:`to_json`, or by an earlier version (see the module)."""
        values: dict[str, Any] = json.loads(text)
        if not isinstance(values, dict):
            raise ValueError(f"an instance header is a JSON object, not {text[:40]!r}")
        known = {f.name: f.default for f in dataclasses.fields(cls)}
        kept = {k: (known[k] if v is None else v) for k, v in values.items() if k in known}
        if values.get("echo_time") is not None:
            kept["echo_time"] = float(values["echo_time"])
        return cls(**kept)


def orientation_of(image_orientation: Sequence[float] | None) -> str:
    """The plane of an Image Orientation (Patient): the axis the slice normal is closest to."""
    if image_orientation is None or len(image_orientation) != 6:
        return "unknown"
    row, column = np.asarray(image_orientation[:3]), np.asarray(image_orientation[3:])
    normal = np.abs(np.cross(row, column))
    return ORIENTATIONS[int(np.argmax(normal))]


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword)
    return "" if value in (None, "") else str(value).strip()
