"""Run time and peak memory of a block of code."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

MIB = 1024**2
#: Seconds between two samples of the resident memory.
INTERVAL_S = 0.01


@dataclass
class Usage:
    """Wall-clock ``seconds``; ``peak_rss_mib``, the largest resident memory of this process
    sampled every :data:`INTERVAL_S`; ``peak_gpu_mib``, torch's peak CUDA allocation (None
    without a GPU). Filled in when the block ends."""

    seconds: float = float("nan")
    peak_rss_mib: float = float("nan")
    peak_gpu_mib: float | None = None


@contextmanager
def track_usage() -> Iterator[Usage]:
    """Measure the block: ``with track_usage() as usage: ...``, then read ``usage``."""
    import torch

    usage = Usage()
    process = psutil.Process()
    peak = process.memory_info().rss
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(INTERVAL_S):
            peak = max(peak, process.memory_info().rss)

    gpu = torch.cuda.is_available()
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    sampler = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    sampler.start()
    try:
        yield usage
    finally:
        usage.seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
        usage.peak_rss_mib = max(peak, process.memory_info().rss) / MIB
        if gpu:
            usage.peak_gpu_mib = torch.cuda.max_memory_allocated() / MIB
