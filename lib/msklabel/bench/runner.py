"""Run the row families in order and collect their rows."""

from __future__ import annotations

import importlib
import logging
import tempfile
from collections.abc import Callable, Iterable

from tqdm import tqdm

from msklabel.bench import FAMILIES
from msklabel.bench.context import BenchContext, BenchSettings
from msklabel.bench.row import Row

logger = logging.getLogger(__name__)


#: The module and function that measure each row family (imported only when run).
_MEASURES = {
    "encoder": ("msklabel.bench.encoder", "encoder_rows"),
    "click": ("msklabel.bench.click", "click_rows"),
    "automatic": ("msklabel.bench.automatic", "automatic_rows"),
    "listener": ("msklabel.bench.listener", "listener_rows"),
    "arrival": ("msklabel.bench.arrival", "arrival_rows"),
    "dicom": ("msklabel.bench.dicom_write", "dicom_write_rows"),
    "gpu": ("msklabel.bench.gpu", "gpu_rows"),
    "memory": ("msklabel.bench.memory", "memory_rows"),
}


def _rows_of(family: str) -> Callable[[BenchContext], list[Row]]:
    if family not in _MEASURES:
        raise ValueError(f"unknown bench family {family!r} (known: {', '.join(FAMILIES)})")
    module, function = _MEASURES[family]
    return getattr(importlib.import_module(module), function)


def run_bench(
    settings: BenchSettings, families: Iterable[str] | None = None, progress: bool = True
) -> tuple[list[Row], dict[str, object]]:
    """The rows of ``families`` (default: all, in :data:`FAMILIES` order) and the run's context.

    A family that fails leaves one row naming the error instead of ending the run.
    """
    wanted = list(families) if families is not None else list(FAMILIES)
    ordered = [family for family in FAMILIES if family in wanted]
    for family in wanted:
        _rows_of(family)  # unknown names fail before anything runs
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="msklabel-bench-") as workdir:
        context = BenchContext(settings, workdir)
        for family in tqdm(ordered, desc="bench", unit="family", disable=not progress):
            try:
                found = _rows_of(family)(context)
            except Exception as error:  # the table must say why a family has no rows
                logger.exception("bench family %s failed", family)
                reason = f"failed: {type(error).__name__}: {error}"
                found = [Row.missing(family, f"{family} rows", "", reason)]
            rows.extend(found)
        return rows, context.describe()
