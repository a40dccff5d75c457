"""Row family 5: arrival-to-results. Orthanc sends the sample study to ``msklabel listen``;
the time until its SEG and SR are stored back in Orthanc, less the configured inactivity wait,
against the automatic segmentation of the same study alone (row family 3, same run)."""

from __future__ import annotations

import time

import pydicom

from msklabel.bench.automatic import PIPELINE_RUN
from msklabel.bench.context import BenchContext
from msklabel.bench.row import Goal, Row

FAMILY = "arrival"
NAME = "arrival-to-results, sample study"
#: Study completion by inactivity, subtracted from the measured time.
INACTIVITY_S = 2.0


def arrival_rows(context: BenchContext) -> list[Row]:
    from msklabel.pacs import StatusStore
    from msklabel.ports import free_port
    from msklabel.testing.listener import (
        ListenerProcess,
        orthanc_post,
        series_counts,
        wait_for,
        write_config,
    )
    from msklabel.testing.orthanc import OrthancServer

    worker = context.worker_results.get(PIPELINE_RUN)
    if worker is None:
        reason = f"no reference: the automatic segmentation ({PIPELINE_RUN}, family 3) did not run"
        return [Row.missing(FAMILY, NAME, "s", reason)]
    files = sorted(context.sample_dir.iterdir())
    study_uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    port, storage = free_port(), context.workdir / "arrival"
    with OrthancServer(modalities={"MSKLABEL": ["MSKLABEL", "127.0.0.1", port]}) as orthanc:
        config = write_config(
            storage.with_suffix(".json"), storage, port,
            listener={"allowed_calling_aes": [orthanc.aet]},
            completion={"inactivity_s": INACTIVITY_S, "check_every_s": 0.2},
            pipeline={"device": "cpu"},  # the CPU rows; the gpu family measures the GPU
            destinations=[{"type": "dicom", "ae_title": orthanc.aet, "host": "127.0.0.1",
                           "port": orthanc.dicom_port}],
        )  # fmt: skip
        process = ListenerProcess(config).start()
        try:
            for path in files:
                orthanc_post(orthanc, "/instances", path.read_bytes())
            (study_id,) = orthanc.get("/studies")
            status = StatusStore(storage / "status.sqlite3")
            start = time.perf_counter()
            orthanc_post(
                orthanc,
                "/modalities/MSKLABEL/store",
                {"Resources": [study_id], "Synchronous": True},
            )

            def results_stored() -> bool:
                counts = series_counts(orthanc, study_uid)
                return "SEG" in counts and "SR" in counts

            wait_for(results_stored, 900, "SEG and SR in Orthanc")
            seconds = time.perf_counter() - start - INACTIVITY_S
            steps = {s["name"]: s.get("seconds") for s in status.summary()["jobs"][0]["steps"]}
        finally:
            process.stop()
    return [
        Row(
            FAMILY,
            NAME,
            "s",
            seconds,
            "the knee network's automatic segmentation of the sample alone (worker, same run)",
            worker["seconds"],
            Goal("value", "<", 60.0),
            note=f"{len(files)} instances Orthanc -> msklabel listen -> SEG + SR -> Orthanc; "
            f"{INACTIVITY_S:g} s inactivity wait excluded; steps: {steps}",
        )
    ]
