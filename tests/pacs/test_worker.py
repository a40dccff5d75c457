"""A job whose destination is down: retried with backoff, then failed with the reason; the
steps already done are not run again."""

from __future__ import annotations

from pathlib import Path

import pytest

from msklabel.pacs import Service, load_config
from msklabel.ports import free_port
from msklabel.testing.listener import storescu, wait_for


@pytest.mark.slow
def test_a_transient_failure_is_retried_then_fails_with_its_reason(
    tmp_path: Path, labels_dir: Path, make_study
) -> None:
    config = load_config(
        storage=tmp_path / "storage",
        listener={"host": "127.0.0.1", "port": 0, "min_free_mb": 1},
        completion={"inactivity_s": 1.0, "check_every_s": 0.2},
        queue={"retries": 2, "retry_delay_s": 0.2},
        pipeline={"steps": ["select", "segment", "results", "send"], "segmentation": "labels",
                  "labels_dir": str(labels_dir)},
        destinations=[{"type": "dicom", "ae_title": "DOWN", "host": "127.0.0.1",
                       "port": free_port()}],
        status={"port": 0},
    )  # fmt: skip
    study = make_study()
    with Service(config) as service:
        assert storescu(service.listener.port, study.files).returncode == 0
        wait_for(lambda: (service.status.summary()["jobs"] or [{}])[0].get("finished"), 300,
                 "the job to fail")  # fmt: skip
        (job,) = service.status.summary()["jobs"]
    assert (job["state"], job["attempts"]) == ("failed", 3)
    assert "association not established" in job["error"] and "no retries left" in job["error"]
    states = {step["name"]: step["state"] for step in job["steps"]}
    assert states == {"select": "done", "segment": "done", "results": "done", "send": "failed"}
    assert len(list((config.storage / "results").glob("*/job-*/results/seg.dcm"))) == 1
