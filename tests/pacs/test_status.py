"""The status store served over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from msklabel.pacs.status import StatusServer, StatusStore


def test_the_summary_is_served_as_json(tmp_path: Path) -> None:
    store = StatusStore(tmp_path / "status.sqlite3")
    store.record_quarantine("1.2.3", None, "malformed", tmp_path / "q", "no Pixel Data")
    (job_id,) = store.complete_quiet_studies(quiet_since=float("inf"))
    store.claim(job_id, "host:1:1")
    store.step_started(job_id, "select")
    store.step_finished(job_id, "select", 0.25, "series 1.2.3.4")
    store.finish(job_id, "failed", "bad input")
    server = StatusServer(store).start()
    try:
        with urllib.request.urlopen(server.url, timeout=10) as response:
            served = json.loads(response.read())
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(server.url.replace("/status", "/other"), timeout=10)
    finally:
        server.stop()
    assert served == json.loads(json.dumps(store.summary()))
    (job,) = served["jobs"]
    assert (job["state"], job["error"], job["attempts"]) == ("failed", "bad input", 1)
    assert job["steps"] == [
        {"name": "select", "state": "done", "seconds": 0.25, "detail": "series 1.2.3.4"}
    ]
    assert served["quarantined"][0]["reason"] == "no Pixel Data"
