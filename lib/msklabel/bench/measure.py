"""Measuring tools shared by the rows: timers, FLOP counts, peak memory.

The matmul rate (the rows' compute limit) and the bf16 probe live with the device choice,
:mod:`msklabel.device`, which training asks too.
"""

from __future__ import annotations

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


def peak_rss(pid: int | str = "self") -> int:
    """Peak resident memory (VmHWM) of process ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")
