"""Row family 7: peak resident memory of the MONAI Label server and of a segmentation worker,
against a process that only loaded the model (what no server or worker can go below)."""

from __future__ import annotations

from msklabel.bench.automatic import run_worker
from msklabel.bench.context import BenchContext
from msklabel.bench.row import Row

FAMILY = "memory"
MIB = 1024**2


def memory_rows(context: BenchContext) -> list[Row]:
    baseline = run_worker(["--load-only"])["peak_rss"] / MIB
    worker = context.worker_results.get("sample knee")
    measured = {
        "MONAI Label server": (
            context.server_peak_rss,
            "after the REST clicks (model loaded, one study encoded)",
        ),
        "segmentation worker": (
            "the worker's automatic segmentation of the sample did not run"
            if worker is None
            else worker["peak_rss"],
            "automatic segmentation of the sample knee (24 slices)",
        ),
    }
    rows = []
    for process, (peak, note) in measured.items():
        name = f"peak memory, {process}"
        if isinstance(peak, str):  # why it was not measured
            rows.append(Row.missing(FAMILY, name, "MiB", peak))
        else:
            reference = "a process that only loaded LiteMedSAM"
            rows.append(Row(FAMILY, name, "MiB", peak / MIB, reference, baseline, note=note))
    return rows
