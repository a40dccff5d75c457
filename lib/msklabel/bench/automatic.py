"""Row family 3: automatic segmentation of whole volumes in a worker process: the sample knee
by the knee network (what the PACS pipeline runs) against the network's own compute limit, and
by detector boxes and LiteMedSAM (the encoder in torch and in ONNX Runtime; a phantom) against
the encoder's compute limit for the slices it encoded."""

from __future__ import annotations

import json
import subprocess
import sys

from msklabel.bench.context import BenchContext
from msklabel.bench.row import Goal, Row

FAMILY = "automatic"


def run_worker(arguments: list[str], timeout: float = 600.0) -> dict:
    """Run :mod:`msklabel.bench.worker` with ``arguments``; its JSON result."""
    command = [sys.executable, "-m", "msklabel.bench.worker", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"the bench worker failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


#: Issue 23's target for a whole sample knee on the CPU, seconds.
SAMPLE_GOAL_S = 8.0
#: The worker's result that the arrival and memory rows compare with: the knee network, which
#: the PACS pipeline runs.
PIPELINE_RUN = "sample knee, knee network"


def automatic_rows(context: BenchContext) -> list[Row]:
    """One row per volume and path; the workers' results are kept for the memory and arrival
    rows."""
    slices = context.settings.phantom_slices
    sample = ["--sample", str(context.sample_dir)]
    runs = {
        PIPELINE_RUN: [*sample, "--knee"],
        "sample knee": sample,
        "sample knee, ONNX Runtime encoder": [*sample, "--runtime", "onnx"],
        f"phantom {slices} slices": ["--phantom-slices", str(slices)],
    }
    rate = context.matmul_rates["fp32"]
    rows = []
    for name, arguments in runs.items():
        row_name = f"automatic segmentation, {name}"
        try:
            result = run_worker(arguments)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            rows.append(Row.missing(FAMILY, row_name, "s", str(error)))
            continue
        if "onnx" in arguments and result["runtime"] != "onnx":
            reason = "ONNX Runtime could not serve (the worker's log says why)"
            rows.append(Row.missing(FAMILY, row_name, "s", reason))
            continue
        context.worker_results[name] = result
        shape = f"{result['slices']} slices {result['shape'][1]}x{result['shape'][2]}"
        reference_name, reference = compute_limit(result, context.encoder_flops, rate, "fp32")
        note = f"{shape}; {result['method']}"
        if "encoded" in result:  # LiteMedSAM: what ran its encoder
            note += f"; encoder in {result['runtime']}"
        goal = Goal("value", "<=", SAMPLE_GOAL_S) if name.startswith("sample") else None
        rows.append(Row(FAMILY, row_name, "s", result["seconds"], reference_name, reference, goal,
                        note=note, extra=result))  # fmt: skip
    return rows


def compute_limit(
    result: dict, encoder_flops: int, rate: float, rate_name: str
) -> tuple[str, float]:
    """The reference of a worker's ``result`` at ``rate`` FLOP/s (named ``rate_name``): the
    knee network's own counted FLOPs, or the slices LiteMedSAM encoded times the encoder's
    ``encoder_flops``; its name and seconds."""
    if "flops" in result:
        flops = result["flops"]
        return f"the network's {flops / 1e9:.0f} GFLOP at the {rate_name} matmul rate", flops / rate
    name = f"{result['encoded']} slices encoded at the encoder's {rate_name} compute limit"
    return name, result["encoded"] * encoder_flops / rate
