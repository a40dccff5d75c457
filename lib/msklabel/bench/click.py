"""Row family 2: click-to-mask latency on an encoded slice, in-process and through the MONAI
Label REST API, against the compute limit of the decoding it runs (its FLOPs at the matmul
rate of the same run)."""

from __future__ import annotations

import copy
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

from msklabel.bench.context import BenchContext
from msklabel.bench.measure import count_flops, peak_rss
from msklabel.bench.row import Goal, Row
from msklabel.labels import KneeLabel
from msklabel.segment import Box, LabelPrompt, Point, Segmenter, Session
from msklabel.segment.backends.base import SliceMask
from msklabel.segment.clicks import guided_click
from msklabel.segment.prompts import SlicePrompt

FAMILY = "click"
#: Where the femur lies on the sample knee's middle slice: (row, column) ranges for clicks,
#: and the box around it (row_min, column_min, row_max, column_max).
FEMUR_CLICKS = ((50, 105), (105, 130))
FEMUR_BOX = (0, 80, 130, 148)
#: Issue 23's targets for a click's p95: in-process, and through MONAI Label's REST API.
CLICK_GOAL = Goal("value", "<=", 50.0)
REST_CLICK_GOAL = Goal("value", "<=", 80.0)


def femur_clicks(index: int, count: int, seed: int = 0) -> list[SlicePrompt]:
    """``count`` single positive clicks inside the sample's femur on slice ``index``."""
    rng = np.random.default_rng(seed)
    (row0, row1), (column0, column1) = FEMUR_CLICKS
    points = zip(rng.uniform(row0, row1, count), rng.uniform(column0, column1, count), strict=True)
    return [
        LabelPrompt(KneeLabel.FEMUR, points=[Point(index, row, column)]).on_slice(index)
        for row, column in points
    ]


def in_process_rows(context: BenchContext) -> list[Row]:
    """Latency of ``Session.predict_slice`` (prompt to full-size mask) on an encoded slice,
    with the prepared mask decoder (as served) and with the stock one, timed in turns."""
    session = context.sample_session
    index = session.volume.shape[0] // 2
    session.embeddings([index])
    sessions = {"": session, ", stock decoder": stock_decoder_session(session)}
    rate = context.matmul_rates["fp32"]
    count = context.settings.clicks
    kinds = {
        "click": femur_clicks(index, count),
        "box": [SlicePrompt.of_box(Box(index, *FEMUR_BOX))] * count,
    }
    rows = []
    for kind, prompts in kinds.items():
        calls = [lambda p, s=s: s.predict_slice(index, p) for s in sessions.values()]
        for call in calls:
            call(prompts[0])  # warm-up; prepares the slice's decoder image side
        seconds = alternating_timings(calls, prompts)
        for (decoder, each), times in zip(sessions.items(), seconds, strict=True):
            rows += latency_rows(
                f"{kind}-to-mask p{{q}}, in-process{decoder}",
                times,
                decoder_limits(lambda p, s=each: s.predict_slice(index, p), prompts, rate),
                f"{count} prompts on an encoded 256x256 slice (LiteMedSAM), timed in turns "
                "with the other decoder",
                CLICK_GOAL if kind == "click" and not decoder else None,
            )
    guided = guided_call(context, index)
    prompts = kinds["click"]
    guided(prompts[0])
    rows += latency_rows(
        "click-to-mask p{q}, in-process, guided by the knee network",
        alternating_timings([guided], prompts)[0],
        decoder_limits(guided, prompts, rate),
        f"the same {count} clicks with the knee network's femur as guide, as the MONAI Label "
        "app answers a click on a knee structure (msklabel.segment.clicks)",
    )
    return rows


def guided_call(context: BenchContext, index: int) -> Callable[[SlicePrompt], SliceMask]:
    """A femur click on slice ``index`` of the sample, answered with the knee network's femur
    as guide."""
    guide = context.femur_guide[index]
    session = context.sample_session
    return lambda prompt: guided_click(index, prompt, guide, session.predict_slice)


def stock_decoder_session(session: Session) -> Session:
    """A session on the same image and embedding cache whose backend runs the stock mask
    decoder, for comparison with the prepared one."""
    backend = copy.copy(session.backend)
    backend.prepare_decoder = False
    return Segmenter(backend, session.segmenter.cache).session(session.volume, session.window)


def alternating_timings(
    calls: list[Callable[[SlicePrompt], object]], prompts: list[SlicePrompt]
) -> np.ndarray:
    """Seconds ``[len(calls), len(prompts)]`` of each call on each prompt, the calls taking
    turns on every prompt and going first in turn (so that load on a shared machine falls on
    all of them alike)."""
    seconds = np.empty((len(calls), len(prompts)))
    for column, prompt in enumerate(prompts):
        for shift in range(len(calls)):
            row = (column + shift) % len(calls)
            seconds[row, column] = _timed(calls[row], prompt)
    return seconds


def decoder_limits(
    answer: Callable[[SlicePrompt], object], prompts: list[SlicePrompt], rate: float
) -> list[float]:
    """Seconds ``answer``'s decoding of each prompt would take at ``rate`` FLOP/s."""
    return [count_flops(lambda p=p: answer(p)) / rate for p in prompts]


def latency_rows(
    name: str,
    seconds: np.ndarray,
    limits: list[float],
    note: str,
    goal_p95: Goal | None = None,
    family: str = FAMILY,
    rate_name: str = "fp32 matmul rate",
) -> list[Row]:
    """Median and 95th-percentile rows of ``seconds`` against the same of ``limits`` (the
    decoder's FLOPs at ``rate_name``); ``name`` holds ``{q}`` for the percentile."""
    return [
        Row(
            family,
            name.format(q=q),
            "ms",
            float(np.percentile(seconds, q)) * 1e3,
            f"decoder FLOPs at {rate_name}",
            float(np.percentile(limits, q)) * 1e3,
            goal_p95 if q == 95 else None,
            note=note,
        )
        for q in (50, 95)
    ]


def rest_rows(context: BenchContext) -> list[Row]:
    """Click-to-mask through the MONAI Label REST API; notes the server's peak memory after
    the clicks, and after one femur box propagated through the study (guided by the knee
    network, which the server then loads)."""
    try:
        from msklabel.labeling.studies import SAMPLE_IMAGE, sample_studies
        from msklabel.serve import MonaiLabelServer
    except ImportError as error:
        context.server_peak_rss = f"no MONAI Label server ({error})"
        context.server_propagation_peak_rss = context.server_peak_rss
        return [Row.missing(FAMILY, "click-to-mask p95, REST", "ms", context.server_peak_rss)]
    studies = sample_studies(context.workdir / "studies")
    image = SAMPLE_IMAGE.removesuffix(".nii.gz")
    count = context.settings.rest_clicks
    index = context.sample.shape[0] // 2
    clicks = [p.coordinates[0] for p in femur_clicks(index, count + 1, seed=1)]
    conf = {"model_dir": str(context.workdir / "models"), "device": "cpu"}
    with MonaiLabelServer(studies, conf=conf) as server:

        def infer(task: str, params: dict) -> None:
            url = f"{server.url}/infer/{task}?image={image}&output=image"
            body = urllib.parse.urlencode({"params": json.dumps(params)}).encode()
            with urllib.request.urlopen(url, data=body, timeout=600) as response:
                response.read()

        def click(x: float, y: float) -> None:
            foreground = [[round(x), round(y), index]]
            infer("litemedsam_interactive", {"label": "femur", "foreground": foreground,
                                             "slice": index})  # fmt: skip

        click(*clicks[0])  # encodes the slice
        seconds = np.array([_timed(click, *xy) for xy in clicks[1:]])
        pid = _server_pid(server.port)
        context.server_peak_rss = peak_rss(pid)
        row_min, column_min, row_max, column_max = FEMUR_BOX
        roi = [column_min, column_max, row_min, row_max, index, index]
        infer("litemedsam_propagation", {"label": "femur", "roi": roi, "slice": index})
        context.server_propagation_peak_rss = peak_rss(pid)
    prompts = femur_clicks(index, count + 1, seed=1)[1:]
    limits = decoder_limits(guided_call(context, index), prompts, context.matmul_rates["fp32"])
    note = (
        f"{count} femur clicks, POST /infer/litemedsam_interactive, the mask file returned; "
        "the app guides them by the knee network (its labels computed at the untimed first "
        "click)"
    )
    return latency_rows("click-to-mask p{q}, REST", seconds, limits, note, REST_CLICK_GOAL)


def _timed(call: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    call(*args)
    return time.perf_counter() - start


def _server_pid(port: int) -> int:
    """The process running ``monailabel start_server`` on ``port``."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"start_server" in words and str(port).encode() in words:
            return int(cmdline.parent.name)
    raise RuntimeError(f"no MONAI Label server process on port {port}")


def click_rows(context: BenchContext) -> list[Row]:
    return in_process_rows(context) + rest_rows(context)
