"""The allocator setting that makes repeated encoder calls fast."""

from __future__ import annotations

import resource

import numpy as np

from msklabel.segment.runtime import reuse_freed_memory


def test_large_blocks_are_reused_instead_of_faulted_in_again():
    assert reuse_freed_memory() is True  # glibc, as on every supported system
    assert reuse_freed_memory() is True  # once per process, same answer

    def faults_of_one_allocation() -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = np.ones(64 * 1024**2 // 8)  # 64 MiB written: every page touched
        del block
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    faults_of_one_allocation()
    # 64 MiB is 16384 pages of 4 KiB: a block given back to the system would fault them all
    assert faults_of_one_allocation() < 1000
