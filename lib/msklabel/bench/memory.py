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
    reference = "a process that only loaded LiteMedSAM"
    rows = []
    server = context.server_peak_rss
    if isinstance(server, str):
        rows.append(Row.missing(FAMILY, "peak memory, MONAI Label server", "MiB", server))
    else:
        rows.append(
            Row(
                FAMILY,
                "peak memory, MONAI Label server",
                "MiB",
                server / MIB,
                reference,
                baseline,
                note="after the REST clicks (model loaded, one study encoded)",
            )
        )
    worker = context.worker_results.get("sample knee")
    if worker is None:
        reason = "the worker's automatic segmentation of the sample did not run"
        rows.append(Row.missing(FAMILY, "peak memory, segmentation worker", "MiB", reason))
    else:
        rows.append(
            Row(
                FAMILY,
                "peak memory, segmentation worker",
                "MiB",
                worker["peak_rss"] / MIB,
                reference,
                baseline,
                note="automatic segmentation of the sample knee (24 slices)",
            )
        )
    return rows
