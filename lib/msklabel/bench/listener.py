"""Row family 4: DICOM listener throughput with durable writes (``msklabel listen``, every
instance fsynced before it is acknowledged) against dcmtk's ``storescp`` receiving the same
files from the same ``storescu`` in the same run (``storescp`` does not fsync)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from msklabel.bench.context import BenchContext
from msklabel.bench.row import Goal, Row

FAMILY = "listener"
NAME = "listener throughput, sample study"


def listener_rows(context: BenchContext) -> list[Row]:
    missing = [tool for tool in ("storescu", "storescp") if shutil.which(tool) is None]
    if missing:
        reason = f"dcmtk's {' and '.join(missing)} not installed"
        return [Row.missing(FAMILY, NAME, "instances/s", reason)]
    from msklabel.ports import free_port
    from msklabel.testing.listener import ListenerProcess, storescu, write_config

    files = sorted(context.sample_dir.iterdir())
    megabytes = sum(path.stat().st_size for path in files) / 1e6
    repeats = 1 if context.settings.quick else 3

    def ours(run: int) -> float:
        port, folder = free_port(), context.workdir / f"listener-{run}"
        config = write_config(folder.with_suffix(".json"), folder, port)
        process = ListenerProcess(config, role="listener").start()
        try:
            return _send(lambda: storescu(port, files))
        finally:
            process.stop()

    def peer(run: int) -> float:
        port, folder = free_port(), context.workdir / f"storescp-{run}"
        folder.mkdir()
        command = ["storescp", "-aet", "MSKLABEL", "-od", str(folder), str(port)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for_port(port, process)
            seconds = _send(lambda: storescu(port, files))
            if received(folder) != len(files):
                raise RuntimeError(f"storescp stored {received(folder)} of {len(files)} files")
            return seconds
        finally:
            process.terminate()
            process.wait(timeout=30)

    mine = np.median([len(files) / ours(run) for run in range(repeats)])
    theirs = np.median([len(files) / peer(run) for run in range(repeats)])
    return [
        Row(
            FAMILY,
            NAME,
            "instances/s",
            float(mine),
            "dcmtk storescp (no fsync), same files and sender",
            float(theirs),
            Goal("ratio", ">=", 0.8),
            note=f"{len(files)} files, {megabytes:.1f} MB, one storescu association; ours "
            f"{mine * megabytes / len(files):.1f} MB/s, storescp "
            f"{theirs * megabytes / len(files):.1f} MB/s",
        )
    ]


def _send(send: Callable[[], subprocess.CompletedProcess]) -> float:
    start = time.perf_counter()
    done = send()
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"storescu failed: {done.stderr.strip()[-500:]}")
    return seconds


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"storescp exited with status {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"storescp did not listen on port {port} in {timeout:g} s")


def received(folder: Path) -> int:
    """Files in ``folder`` and below (what a receiver stored)."""
    return sum(1 for path in folder.rglob("*") if path.is_file())
