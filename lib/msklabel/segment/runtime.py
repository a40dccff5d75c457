"""Process settings that make CPU inference fast on small machines.

The image encoder allocates and frees tens of megabytes of activations per slice. glibc's
malloc serves blocks that large with ``mmap`` and returns them to the system on ``free``, so
every call faults its memory in again page by page: on small virtual machines that costs as
much as the arithmetic. :func:`reuse_freed_memory` makes malloc keep freed blocks for the next
call instead (a process keeps its peak memory, which a server does anyway).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

logger = logging.getLogger(__name__)

#: ``mallopt`` parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Largest ``mmap`` threshold to ask for, then smaller ones if glibc refuses.
_MMAP_THRESHOLDS = (1 << 30, 32 << 20)


@functools.cache
def reuse_freed_memory() -> bool:
    """Make glibc keep large freed blocks for reuse; False where malloc is not glibc's.

    Applies once per process; later calls return the first call's result.
    """
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        logger.debug("no glibc mallopt: freed memory is returned to the system")
        return False
    if not mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(2**31 - 1)):
        return False
    return any(mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(value)) for value in _MMAP_THRESHOLDS)
