"""No test leaves torch on fewer threads than a fresh process has: the clinical tests limit
OpenMP to one thread for gradient boosting, and torch shares that runtime (a limit that
outlived them once ran every later test single-threaded and the suite twice as long)."""

from __future__ import annotations

import subprocess
import sys

import torch


def test_torch_has_the_threads_of_a_fresh_process() -> None:
    fresh = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert torch.get_num_threads() == int(fresh.stdout)
