"""The networked queue: Redis (started here) shared by two worker processes."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from msklabel.pacs import StatusStore
from msklabel.ports import free_port
from msklabel.testing.listener import ListenerProcess, storescu, wait_for, write_config


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A redis-server of its own: free port, own folder, no persistence."""
    port, folder = free_port(), tmp_path / "redis"
    folder.mkdir()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert server.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=30)


@pytest.mark.slow
def test_two_workers_share_four_studies_each_processed_once(
    redis_url: str, make_study, labels_dir: Path, tmp_path: Path,
    processes: list[ListenerProcess],
) -> None:  # fmt: skip
    port, storage = free_port(), tmp_path / "storage"
    config = write_config(
        tmp_path / "config.json", storage, port, queue={"url": redis_url},
        pipeline={"steps": ["select", "segment"], "segmentation": "labels",
                  "labels_dir": str(labels_dir)},
    )  # fmt: skip
    processes.append(ListenerProcess(config, role="listener").start())
    for _ in range(2):
        processes.append(ListenerProcess(config, role="worker").start())
    studies = [make_study() for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        sent = list(pool.map(lambda s: storescu(port, s.files), studies))
    assert all(result.returncode == 0 for result in sent)
    status = StatusStore(storage / "status.sqlite3")

    def finished() -> list[dict] | None:
        jobs = status.summary()["jobs"]
        return jobs if len(jobs) == 4 and all(j["finished"] for j in jobs) else None

    jobs = wait_for(finished, 180, "four finished jobs")
    assert sorted(job["study_uid"] for job in jobs) == sorted(s.study_uid for s in studies)
    assert [(job["state"], job["attempts"]) for job in jobs] == [("done", 1)] * 4
    worker_processes = {job["worker"].split(":")[1] for job in jobs}
    assert worker_processes == {str(p.process.pid) for p in processes[1:]}
    for study in studies:
        outputs = list((storage / "results" / study.study_uid).glob("job-*/labels.nii.gz"))
        assert len(outputs) == 1
