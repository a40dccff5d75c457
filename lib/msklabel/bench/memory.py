"""Row family 7: peak resident memory of the MONAI Label server and of a segmentation worker,
against a process that only loaded the model (what no server or worker can go below)."""

from __future__ import annotations

from msklabel.bench.automatic import PIPELINE_RUN, run_worker
from msklabel.bench.context import BenchContext
from msklabel.bench.row import Goal, Row

FAMILY = "memory"
MIB = 1024**2
#: Issue 23: the server's peak not above 1.5 GiB.
SERVER_GOAL = Goal("value", "<=", 1536.0)


def memory_rows(context: BenchContext) -> list[Row]:
    baseline = run_worker(["--load-only"])["peak_rss"] / MIB
    measured = {
        "MONAI Label server": (
            context.server_peak_rss,
            "after the REST clicks (model loaded, one study encoded)",
        ),
        "MONAI Label server, after a guided propagation": (
            context.server_propagation_peak_rss,
            "after the REST clicks and one femur box propagated through the sample, guided by "
            "the knee network (loaded into the server)",
        ),
    }
    for run, process in ((PIPELINE_RUN, "knee network"), ("sample knee", "detector + LiteMedSAM")):
        worker = context.worker_results.get(run)
        measured[f"segmentation worker, {process}"] = (
            f"the worker's automatic segmentation ({run}) did not run"
            if worker is None
            else worker["peak_rss"],
            f"automatic segmentation of the sample knee (24 slices) by the {process}",
        )
    rows = []
    for process, (peak, note) in measured.items():
        name = f"peak memory, {process}"
        goal = SERVER_GOAL if process.startswith("MONAI Label server") else None
        if isinstance(peak, str):  # why it was not measured
            rows.append(Row.missing(FAMILY, name, "MiB", peak))
        else:
            reference = "a process that only loaded LiteMedSAM"
            rows.append(Row(FAMILY, name, "MiB", peak / MIB, reference, baseline, goal, note=note))
    return rows
