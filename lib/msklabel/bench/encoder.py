"""Row family 1: LiteMedSAM image-encoder time per slice on the CPU, fp32 and bf16, against the
compute limit (the encoder's FLOPs at the dense matmul rate of the same run)."""

from __future__ import annotations

import numpy as np

from msklabel.bench.context import BenchContext
from msklabel.bench.measure import timings
from msklabel.bench.row import Goal, Row

FAMILY = "encoder"


def encoder_rows(context: BenchContext) -> list[Row]:
    from msklabel.segment import load_backend

    images = context.sample_session.images[: context.settings.encoder_slices]
    fp32 = context.backend
    flops = context.encoder_flops
    rows = []
    for precision in ("fp32", "bf16"):
        backend = (
            fp32
            if precision == "fp32"
            else load_backend("litemedsam", precision="bf16", device="cpu")
        )
        backend.encode(images[:1])  # warm-up
        repeats = 2 if len(images) < 8 else 1
        seconds = timings(lambda b=backend: b.encode(images), repeats, warmup=0)
        per_slice = float(np.median(seconds)) / len(images)
        rate = context.matmul_rates[precision]
        rows.append(
            Row(
                FAMILY,
                f"LiteMedSAM encoder {precision}, per slice",
                "ms",
                per_slice * 1e3,
                f"{flops / 1e9:.1f} GFLOP at {precision} matmul {rate / 1e9:.0f} GFLOP/s",
                flops / rate * 1e3,
                Goal("ratio", "<=", 1.5) if precision == "fp32" else None,
                note=f"{len(images)} slices of the sample knee, batches of {backend.batch_size}",
                extra={"gflop_per_slice": flops / 1e9, "matmul_gflops": rate / 1e9},
            )
        )
    return rows
