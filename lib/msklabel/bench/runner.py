"""Run the row families in order and collect their rows."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable

from tqdm import tqdm

from msklabel.bench import FAMILIES
from msklabel.bench.context import BenchContext, BenchSettings
from msklabel.bench.row import Row

logger = logging.getLogger(__name__)


def _rows_of(family: str) -> Callable[[BenchContext], list[Row]]:
    if family == "encoder":
        from msklabel.bench.encoder import encoder_rows

        return encoder_rows
    if family == "click":
        from msklabel.bench.click import click_rows

        return click_rows
    if family == "automatic":
        from msklabel.bench.automatic import automatic_rows

        return automatic_rows
    if family == "listener":
        from msklabel.bench.listener import listener_rows

        return listener_rows
    if family == "arrival":
        from msklabel.bench.arrival import arrival_rows

        return arrival_rows
    if family == "dicom":
        from msklabel.bench.dicom_write import dicom_write_rows

        return dicom_write_rows
    if family == "memory":
        from msklabel.bench.memory import memory_rows

        return memory_rows
    raise ValueError(f"unknown bench family {family!r} (known: {', '.join(FAMILIES)})")


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
