"""``map`` over a few threads, for the data generators' independent slices and slabs.

numpy's array loops, its FFTs and scipy.ndimage's resampling release the GIL, so threads
share the cores without a process pool's copies. The order of the results is the order of
the items, and each item's computation is the same as in a plain loop, so the output is the
same bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")

#: The most threads used, whatever the machine.
MAX_WORKERS = 4


def parallel_map(function: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """``[function(item) for item in items]`` on up to :data:`MAX_WORKERS` threads."""
    workers = min(len(items), os.cpu_count() or 1, MAX_WORKERS)
    if workers <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))
