"""Row family 8: the models on a CUDA GPU (encoder at batch 1 and batched, click-to-mask,
automatic segmentation of the sample knee, detector training), each against the GPU's own
dense matmul rate measured in the same run. Where torch sees no CUDA GPU, one row per item
says why it is absent; the CPU rows of the other families never run on a GPU."""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from msklabel.bench.automatic import compute_limit, run_worker
from msklabel.bench.click import decoder_limits, femur_clicks, latency_rows
from msklabel.bench.context import BenchContext
from msklabel.bench.measure import count_flops, timings
from msklabel.bench.row import Goal, Row
from msklabel.device import matmul_rate
from msklabel.segment.backends.sam import SamFamilyBackend

FAMILY = "gpu"
#: Side of the matmul that measures the GPU's rate (large enough to fill an H100).
MATMUL_SIZE = 8192
#: Slices per encoder batch on the GPU (as the issue measured: batches of 24).
BATCH = 24
#: Every row of the family (name, unit): the rows shown as absent where there is no GPU.
ITEMS = (
    ("GPU LiteMedSAM encoder fp32, per slice, batch 1", "ms"),
    (f"GPU LiteMedSAM encoder fp32, per slice, batches of {BATCH}", "ms"),
    (f"GPU LiteMedSAM encoder bf16, per slice, batches of {BATCH}", "ms"),
    ("GPU click-to-mask p50, in-process", "ms"),
    ("GPU click-to-mask p95, in-process", "ms"),
    ("GPU automatic segmentation, sample knee, knee network", "s"),
    ("GPU automatic segmentation, sample knee", "s"),
    ("GPU detector training", "steps/s"),
)


def gpu_rows(context: BenchContext) -> list[Row]:
    if not torch.cuda.is_available():
        reason = (
            f"no CUDA GPU: torch.cuda.is_available() is False here (torch {torch.__version__}, "
            f"CUDA build {torch.version.cuda or 'none'})"
        )
        return [Row.missing(FAMILY, name, unit, reason) for name, unit in ITEMS]
    device = torch.device("cuda", 0)
    rates = {
        precision: matmul_rate(dtype, MATMUL_SIZE, device=device)
        for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
    }
    return [
        *encoder_rows(context, device, rates),
        *click_rows(context, device, rates["fp32"]),
        *automatic_rows(context, rates["fp32"]),
        training_row(context, device, rates["fp32"]),
    ]


def encoder_rows(context: BenchContext, device: torch.device, rates: dict[str, float]) -> list[Row]:
    """The encoder on the sample's slices one at a time, then in batches (fp32 and bf16)."""
    from msklabel.segment import load_backend

    images = context.sample_session.images
    images = np.concatenate([images] * -(-BATCH // len(images)))[:BATCH]
    flops = context.encoder_flops
    fp32 = load_backend("litemedsam", device=device)
    bf16 = load_backend("litemedsam", precision="bf16", device=device)
    runs = (
        ("fp32", 1, _batches_of(fp32, 1)),
        ("fp32", BATCH, _batches_of(fp32, BATCH)),
        ("bf16", BATCH, _batches_of(bf16, BATCH)),
    )
    rows = []
    for (name, unit), (precision, batch, backend) in zip(ITEMS[:3], runs, strict=True):
        seconds = timings(lambda b=backend: b.encode(images), 3, warmup=1, device=device)
        rate = rates[precision]
        rows.append(
            Row(
                FAMILY,
                name,
                unit,
                float(np.median(seconds)) / len(images) * 1e3,
                f"{flops / 1e9:.1f} GFLOP at GPU {precision} matmul {rate / 1e12:.1f} TFLOP/s",
                flops / rate * 1e3,
                Goal("value", "<=", 5.0) if batch > 1 and precision == "fp32" else None,
                note=f"{len(images)} slices of the sample knee, batches of {batch}",
                extra={"gpu": torch.cuda.get_device_name(device), "matmul_gflops": rate / 1e9},
            )
        )
    return rows


def _batches_of(backend: SamFamilyBackend, size: int) -> SamFamilyBackend:
    """``backend`` (its network shared) encoding ``size`` slices per batch."""
    twin = copy.copy(backend)
    twin.batch_size = size
    return twin


def click_rows(context: BenchContext, device: torch.device, rate: float) -> list[Row]:
    """Single clicks on an encoded slice of the sample, prompt to full-size NumPy mask."""
    from msklabel.segment import Segmenter, load_backend

    session = Segmenter(load_backend("litemedsam", device=device)).session(context.sample)
    index = session.volume.shape[0] // 2
    session.embeddings([index])
    count = context.settings.clicks
    prompts = femur_clicks(index, count)
    session.predict_slice(index, prompts[0])  # warm-up
    calls = iter(prompts)
    seconds = timings(lambda: session.predict_slice(index, next(calls)), count, warmup=0)
    return latency_rows(
        "GPU click-to-mask p{q}, in-process",
        seconds,
        decoder_limits(lambda p: session.predict_slice(index, p), prompts, rate),
        f"{count} clicks on an encoded 256x256 slice (LiteMedSAM)",
        Goal("value", "<=", 15.0),
        family=FAMILY,
        rate_name="GPU fp32 matmul rate",
    )


def automatic_rows(context: BenchContext, rate: float) -> list[Row]:
    """The sample knee segmented in a worker process on the GPU: by the knee network (what
    the PACS pipeline runs), against its own FLOPs, and by detector boxes and LiteMedSAM,
    against the encoder's limit for the slices it encoded."""
    sample = ["--sample", str(context.sample_dir), "--device", "cuda"]
    rows = []
    for (name, unit), arguments in zip(ITEMS[5:7], ([*sample, "--knee"], sample), strict=True):
        result = run_worker(arguments)
        limit = compute_limit(result, context.encoder_flops, rate, "GPU fp32")
        note = f"{result['slices']} slices; {result['method']}"
        rows.append(Row(FAMILY, name, unit, result["seconds"], *limit, Goal("value", "<=", 2.0),
                        note=note, extra=result))  # fmt: skip
    return rows


def training_row(context: BenchContext, device: torch.device, rate: float) -> Row:
    """Steps per second of the detector's training (images synthesised on the CPU), against
    three times its network's forward FLOPs per step at the GPU's rate."""
    from msklabel.data.labelmaps import phantom_labels
    from msklabel.detect import TrainConfig, train_detector
    from msklabel.detect.model import CentreNet
    from msklabel.detect.synth import ImageBank, SliceBank, synthesise

    name, unit = ITEMS[7]
    labels = phantom_labels(7, "sagittal", (2.0, 1.0, 1.0))
    config = TrainConfig(steps=20 if context.settings.quick else 60)
    ends: list[float] = []
    train_detector(
        [labels], config, progress=False, device=device,
        callback=lambda *_: ends.append(time.perf_counter()),
    )  # fmt: skip
    warm = ends[len(ends) // 4 :]  # the first steps compile and tune kernels
    steps_per_s = (len(warm) - 1) / (warm[-1] - warm[0])
    bank, imaged = SliceBank.of([labels]), ImageBank.of([])
    batch = synthesise(bank, config.batch_size, torch.Generator(), imaged, config.context)
    network = CentreNet(widths=config.widths, context=config.context).to(device)
    step_flops = 3 * count_flops(lambda: network(batch.images.to(device)))
    return Row(
        FAMILY,
        name,
        unit,
        steps_per_s,
        f"3x forward FLOPs ({step_flops / 1e9:.0f} GFLOP/step) at GPU fp32 matmul rate",
        rate / step_flops,
        note=f"batches of {config.batch_size} synthesised images, {len(warm)} steps timed",
    )
