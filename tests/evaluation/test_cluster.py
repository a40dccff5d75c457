"""Evaluations on Dask: an in-process cluster with a stand-in model, and a real ``dask
scheduler`` with two ``dask worker`` processes running LiteMedSAM on phantoms of two
sequences, one worker killed mid-run.

Randomly initialised SAM (vit_b) and SAM2 (hiera_t) are left out of the real cluster: on a
shared 2-core machine one SAM encoding of a 1024 x 1024 slice took 30-40 s and SAM2's
propagation 4-34 s per slice, minutes per case (tests/segment covers their loaders)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from msklabel.evaluation.cluster import connect
from msklabel.evaluation.plan import plan_from_dict
from msklabel.evaluation.runner import Evaluator
from msklabel.ports import free_port

LIBRARY = Path(__file__).resolve().parents[2] / "lib"
#: Columns that measure the run rather than the result.
USAGE = ["seconds", "peak_rss_mib", "peak_gpu_mib"]
#: 10 mm slices of 2 mm pixels (14 x 70 x 70); the patella lies on 4 slices.
SMALL = {"spacing": [10.0, 2.0, 2.0], "supersampling": 1, "fov_mm": 140}
SEQUENCES = {
    "mese": {"sequence": "mese", "echo_times": [10.0, 40.0]},
    "gre": {"sequence": "gre", "echo_times": [6.0]},
}


def _plan(models: list[dict], seeds=(0,), structures=("patella",)):
    datasets = [{"name": name, "kind": "phantom", "seeds": list(seeds), "config": SMALL | extra}
                for name, extra in SEQUENCES.items()]  # fmt: skip
    document = {"structures": list(structures), "surface_tolerance_mm": 2.0,
                "datasets": datasets, "models": models}  # fmt: skip
    return plan_from_dict(document)


def _same_tables(a, b) -> None:
    pd.testing.assert_frame_equal(a.cases.drop(columns=USAGE), b.cases.drop(columns=USAGE))
    pd.testing.assert_frame_equal(a.biomarkers, b.biomarkers)


@pytest.mark.slow
def test_a_cluster_gives_the_single_process_tables_and_submits_only_what_is_missing(
    tmp_path, perfect
):
    calls, _, _ = perfect
    plan = _plan([{"model": "kneeseg"}, {"model": "litemedsam"}], seeds=(0, 1),
                 structures=("femur", "femoral_cartilage"))  # fmt: skip
    single = Evaluator(plan, tmp_path / "single", progress=False).run()
    from dask.distributed import Client

    with Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as c:
        distributed = Evaluator(plan, tmp_path / "dask", progress=False).run(c)
        assert (distributed.computed, distributed.reused, distributed.errors) == (8, 0, [])
        _same_tables(single, distributed)
        assert len(calls) == 16  # 4 cases x 2 configurations, once in each run
        (next((tmp_path / "dask" / "cache").rglob("litemedsam_*.json"))).unlink()
        again = Evaluator(plan, tmp_path / "dask", progress=False).run(c)
        assert (again.computed, again.reused, len(calls)) == (1, 7, 17)
        _same_tables(single, again)


@pytest.fixture
def dask_cluster(tmp_path) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A ``dask scheduler`` and two single-threaded ``dask worker`` processes (each with its
    nanny, in a process group of its own) on loopback; the scheduler's address and the
    workers."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    environment = {**os.environ, "PYTHONPATH": str(LIBRARY), "OMP_NUM_THREADS": "1"}
    dask = str(Path(sys.executable).with_name("dask"))
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    commands = [
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        *[[dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"w{i}"]
          for i in range(2)],
    ]  # fmt: skip
    processes = []
    for i, command in enumerate(commands):
        processes.append(subprocess.Popen(
            command, env=environment, cwd=tmp_path, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=(logs / f"{i}.log").open("w"),
        ))  # fmt: skip
    try:
        yield address, processes[1:]
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.slow
def test_two_dask_workers_give_the_single_process_table_though_one_is_killed(
    tmp_path, dask_cluster
):
    address, workers = dask_cluster
    plan = _plan([{"model": "litemedsam", "prompts": ["oracle-box", "detector"]}])
    total = 2 * 2  # 2 cases (one per sequence) x 2 prompt modes
    out = tmp_path / "dask"
    finished_before_kill: dict[Path, int] = {}

    def kill_a_worker_after_the_first_result() -> None:
        while not finished_before_kill:
            done = [p for p in (out / "cache").rglob("*.json") if "reference" not in p.name]
            if done:
                finished_before_kill.update({p: p.stat().st_mtime_ns for p in done})
                os.killpg(workers[0].pid, signal.SIGKILL)  # the worker and its nanny
            time.sleep(0.1)

    with connect(address) as client:
        client.wait_for_workers(2, timeout=120)
        killer = threading.Thread(target=kill_a_worker_after_the_first_result, daemon=True)
        killer.start()
        distributed = Evaluator(plan, out, progress=False).run(client)
        killer.join(timeout=5)
        assert workers[0].wait(timeout=30) == -signal.SIGKILL
        assert len(client.scheduler_info()["workers"]) == 1
    assert 0 < len(finished_before_kill) < total  # killed mid-run
    assert distributed.errors == [] and distributed.computed + distributed.reused == total
    # nothing finished before the kill was computed again
    assert {p: p.stat().st_mtime_ns for p in finished_before_kill} == finished_before_kill
    cases = distributed.cases
    assert len(cases) == total and cases["dice"].notna().all()
    assert set(cases["scanning_sequence"]) == {"SE", "GR"}
    assert set(cases["sequence_variant"]) == {"NONE", "SS"}
    assert (cases[cases["prompt"] == "oracle-box"]["dice"] > 0.5).all()

    single = Evaluator(plan, tmp_path / "single", progress=False).run()
    assert single.computed == total
    _same_tables(single, distributed)
    entries = {(e["prompt"], e["level"]): e["n"] for e in distributed.summary["segmentation"]
               if e["stratum"] == "scanning_sequence"}  # fmt: skip
    assert entries == {(p, s): 1 for p in ("oracle-box", "detector") for s in ("SE", "GR")}
