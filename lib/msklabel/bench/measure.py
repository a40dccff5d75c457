"""Measuring tools shared by the rows: timers, FLOP counts, the matmul rate, peak memory."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode


def timings(
    call: Callable[[], object], repeats: int, warmup: int = 1, device: torch.device | None = None
) -> np.ndarray:
    """Wall-clock seconds of ``repeats`` calls of ``call``, after ``warmup`` untimed calls;
    on a CUDA ``device`` each call ends when the GPU has finished its work."""
    finish = torch.cuda.synchronize if device is not None and device.type == "cuda" else None
    for _ in range(warmup):
        call()
    seconds = np.empty(repeats)
    for index in range(repeats):
        if finish is not None:
            finish(device)
        start = time.perf_counter()
        call()
        if finish is not None:
            finish(device)
        seconds[index] = time.perf_counter() - start
    return seconds


def count_flops(call: Callable[[], object]) -> int:
    """Floating-point operations of ``call`` (matmuls and convolutions, multiply-add = 2)."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        call()
    return int(counter.get_total_flops())


def matmul_rate(
    dtype: torch.dtype = torch.float32,
    size: int = 2048,
    repeats: int = 5,
    device: torch.device | None = None,
) -> float:
    """The best FLOP/s of a dense ``size`` x ``size`` matmul on this process's torch threads
    (or on ``device``, a GPU).

    This is the compute limit the rows compare with: what the machine's BLAS reaches on
    the densest kernel there is, in the same run, on the same threads as the model.
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device, dtype)
    b = torch.randn(size, size, generator=generator).to(device, dtype)
    out = torch.empty(size, size, dtype=dtype, device=device)
    best = timings(lambda: torch.mm(a, b, out=out), repeats, warmup=2, device=device).min()
    return 2.0 * size**3 / best


#: bf16 counts as native where a small bf16 matmul reaches this share of the fp32 rate: CPUs
#: with bf16 instructions (AVX-512 BF16, AMX) run it at 1-4x fp32's rate, CPUs without them
#: emulate it about 100x slower than fp32 (an AVX2 EPYC: 1 against 150 GFLOP/s).
NATIVE_BF16_SHARE = 0.25


@functools.cache
def native_bf16() -> tuple[bool, float, float]:
    """Whether this CPU does bf16 arithmetic natively, with the probe's bf16 and fp32 FLOP/s
    (256 x 256 matmuls: under 0.1 s even where bf16 is emulated)."""
    bf16 = matmul_rate(torch.bfloat16, 256, repeats=3)
    fp32 = matmul_rate(torch.float32, 256, repeats=3)
    return bf16 >= NATIVE_BF16_SHARE * fp32, bf16, fp32


def peak_rss(pid: int | str = "self") -> int:
    """Peak resident memory (VmHWM) of process ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")
