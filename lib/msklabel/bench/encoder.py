"""Row family 1: LiteMedSAM image-encoder time per slice on the CPU, fp32 and bf16 (where the
CPU has bf16 arithmetic) in torch and fp32 in ONNX Runtime, against the compute limit (the
encoder's FLOPs at the dense matmul rate of the same run). The torch and ONNX Runtime fp32 rows
are timed alternately, slice by slice, so that both see the same machine."""

from __future__ import annotations

import numpy as np

from msklabel.bench.context import BenchContext
from msklabel.bench.measure import timings
from msklabel.bench.row import Goal, Row
from msklabel.device import native_bf16

FAMILY = "encoder"
#: The ONNX Runtime row's name.
ONNX_ROW = "LiteMedSAM encoder fp32 ONNX Runtime, per slice"
#: Issue 23: the fp32 encoder within 1.3 times its compute limit.
ENCODER_GOAL = Goal("ratio", "<=", 1.3)
BF16_ROW = "LiteMedSAM encoder bf16, per slice"


def encoder_rows(context: BenchContext) -> list[Row]:
    from msklabel.segment import load_backend

    images = context.sample_session.images[: context.settings.encoder_slices]
    flops = context.encoder_flops
    backends = {
        "fp32": context.backend,
        "onnx": load_backend("litemedsam", device="cpu", runtime="onnx"),
    }
    repeats = 2 if len(images) < 8 else 1
    for backend in backends.values():
        backend.encode(images[:1])  # warm-up
    fp32_rate = context.matmul_rates["fp32"]
    seconds = {name: np.zeros(repeats) for name in ("fp32", "onnx")}
    for index in range(repeats):
        for k in range(len(images)):  # slice by slice, alternately: the same machine for both
            for name in seconds:
                seconds[name][index] += _seconds(backends[name], images[k : k + 1])
    per_slice = {name: float(np.median(s)) / len(images) for name, s in seconds.items()}
    rows = [_row("fp32", per_slice["fp32"], flops, fp32_rate, len(images))]
    if backends["onnx"].runtime == "onnx":
        share = per_slice["onnx"] / per_slice["fp32"]
        rows.append(
            _row(
                "fp32",
                per_slice["onnx"],
                flops,
                fp32_rate,
                len(images),
                ONNX_ROW,
                f"; {share:.2f}x torch fp32's time, timed alternately with it",
                {"torch_fp32_ms": per_slice["fp32"] * 1e3, "share_of_torch": share},
            )
        )
    else:
        reason = "ONNX Runtime could not serve (the log says why): torch runs the encoder"
        rows.append(Row.missing(FAMILY, ONNX_ROW, "ms", reason))
    rows.append(_bf16_row(images, flops, repeats, context))
    return rows


def _bf16_row(images: np.ndarray, flops: int, repeats: int, context: BenchContext) -> Row:
    """The bf16 row, or why there is none: a CPU without bf16 arithmetic emulates it about
    100x slower than fp32, so bf16 is no option there and timing it would take minutes."""
    from msklabel.segment import load_backend

    native, bf16_rate, fp32_rate = native_bf16()
    if not native:
        return Row.missing(
            FAMILY,
            BF16_ROW,
            "ms",
            f"this CPU has no bf16 arithmetic: a bf16 matmul ran at {bf16_rate / 1e9:.1f} "
            f"GFLOP/s against {fp32_rate / 1e9:.0f} in fp32, so bf16 is not an option here",
        )
    bf16 = load_backend("litemedsam", precision="bf16", device="cpu")
    bf16.encode(images[:1])  # warm-up
    seconds = timings(lambda: bf16.encode(images), repeats, warmup=0)
    per_slice = float(np.median(seconds)) / len(images)
    return _row("bf16", per_slice, flops, context.matmul_rates["bf16"], len(images))


def _seconds(backend, images: np.ndarray) -> float:
    return float(timings(lambda: backend.encode(images), 1, warmup=0)[0])


def _row(
    precision: str,
    seconds: float,
    flops: int,
    rate: float,
    slices: int,
    name: str | None = None,
    note: str = "",
    extra: dict[str, float] | None = None,
) -> Row:
    """A per-slice encoder row against the limit of ``flops`` at ``rate`` (batches of 1, the
    CPU's)."""
    return Row(
        FAMILY,
        name or f"LiteMedSAM encoder {precision}, per slice",
        "ms",
        seconds * 1e3,
        f"{flops / 1e9:.1f} GFLOP at {precision} matmul {rate / 1e9:.0f} GFLOP/s",
        flops / rate * 1e3,
        ENCODER_GOAL if precision == "fp32" else None,
        note=f"{slices} slices of the sample knee, batches of 1{note}",
        extra={"gflop_per_slice": flops / 1e9, "matmul_gflops": rate / 1e9, **(extra or {})},
    )
