"""The bench's outputs: a plain-text table and a JSON document."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from msklabel.bench.row import Row

_HEADER = ("row", "value", "reference", "ratio", "target")


def format_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned text table (unavailable rows give their reason)."""
    lines = [_HEADER]
    for row in rows:
        if row.unavailable is not None:
            lines.append((row.name, "not available", row.unavailable, "", ""))
            continue
        target = "" if row.goal is None else f"{row.goal} ({'met' if row.met else 'MISSED'})"
        lines.append(
            (
                row.name,
                f"{_number(row.value)} {row.unit}",
                f"{_number(row.reference)} {row.unit} ({row.reference_name})",
                f"{row.ratio:.2f}x",
                target,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(_HEADER) - 1)]
    text = []
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        text.append("  ".join([*cells, line[-1]]).rstrip())
    return "\n".join(text)


def write_json(
    rows: Sequence[Row], path: str | os.PathLike[str], context: Mapping[str, Any]
) -> None:
    """Write ``{"context": ..., "rows": [...]}`` to ``path``."""
    document = {"context": dict(context), "rows": [row.to_json() for row in rows]}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, default=str)
        handle.write("\n")


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or 0.01 <= abs(value) < 10000:
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return f"{value:.3g}"
