"""Row family 3: automatic segmentation of whole volumes (the sample knee, with the encoder in
torch and in ONNX Runtime; a phantom) in a worker process, against the encoder's compute limit
for the slices it encoded."""

from __future__ import annotations

import json
import subprocess
import sys

from msklabel.bench.context import BenchContext
from msklabel.bench.row import Row

FAMILY = "automatic"


def run_worker(arguments: list[str], timeout: float = 600.0) -> dict:
    """Run :mod:`msklabel.bench.worker` with ``arguments``; its JSON result."""
    command = [sys.executable, "-m", "msklabel.bench.worker", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"the bench worker failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def automatic_rows(context: BenchContext) -> list[Row]:
    """One row per volume; the sample's worker result is kept for the memory row."""
    slices = context.settings.phantom_slices
    runs = {
        "sample knee": ["--sample", str(context.sample_dir)],
        "sample knee, ONNX Runtime encoder": [
            "--sample", str(context.sample_dir), "--runtime", "onnx"
        ],
        f"phantom {slices} slices": ["--phantom-slices", str(slices)],
    }  # fmt: skip
    limit = context.encoder_flops / context.matmul_rates["fp32"]
    rows = []
    for name, arguments in runs.items():
        try:
            result = run_worker(arguments)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            rows.append(Row.missing(FAMILY, f"automatic segmentation, {name}", "s", str(error)))
            continue
        if "onnx" in arguments and result["runtime"] != "onnx":
            reason = "ONNX Runtime could not serve (the worker's log says why)"
            rows.append(Row.missing(FAMILY, f"automatic segmentation, {name}", "s", reason))
            continue
        context.worker_results[name] = result
        rows.append(
            Row(
                FAMILY,
                f"automatic segmentation, {name}",
                "s",
                result["seconds"],
                f"{result['encoded']} slices encoded at the encoder's compute limit",
                result["encoded"] * limit,
                note=f"{result['slices']} slices {result['shape'][1]}x{result['shape'][2]}; "
                f"{result['method']}; encoder in {result['runtime']}",
                extra=result,
            )
        )
    return rows
