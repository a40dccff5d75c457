"""A segmentation worker in its own process: automatic segmentation of one volume, timed,
with the process's peak resident memory. Run as
``python -m msklabel.bench.worker (--sample DIR | --phantom-slices N | --load-only)
[--knee] [--device cpu|cuda] [--runtime torch|onnx]``; prints one JSON line.

Two automatic paths: detector boxes prompting LiteMedSAM (the default), and with ``--knee``
the knee network (``msklabel.kneeseg``: what ``msklabel demo``, the PACS pipeline and the
MONAI Label app's ``knee_automatic`` run), on every echo of the series.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from msklabel.errors import MsklabelError
from msklabel.volume import Volume

#: Length along the slice normal that the phantom's slices cover (160 slices of 0.7 mm).
PHANTOM_SPAN_MM = 112.0


def phantom_volume(slices: int) -> Volume:
    """A sagittal phantom of ``slices`` slices (0.6 mm pixels, one echo, no supersampling).

    The slice spacing is chosen so that the limb spans about ``slices`` slices (0.7 mm for
    160); the central ``slices`` are kept.
    """
    from msklabel.data.phantom import PhantomConfig, make_phantom

    spacing = (PHANTOM_SPAN_MM / slices, 0.6, 0.6)
    config = PhantomConfig(spacing=spacing, echo_times=(30.0,), supersampling=1)
    echo = make_phantom(config).echoes[0]
    first = max(0, (echo.shape[0] - slices) // 2)
    affine = echo.affine.copy()
    affine[:3, 3] += affine[:3, 0] * first
    array = np.ascontiguousarray(echo.array[first : first + slices])
    return Volume(array, affine, echo_time=echo.echo_time, modality="MR")


def segment_whole_volume(
    volume: Volume, device: str = "cpu", runtime: str = "torch"
) -> dict[str, object]:
    """Segment ``volume`` automatically on ``device``, LiteMedSAM's encoder in ``runtime``; the
    seconds, slices encoded, method and the runtime that served.

    The detector's ``msklabel.detect.segment_automatic`` when it is installed; otherwise one
    box per slice around the limb's tissue (the demo's prompts), so every slice is encoded.
    """
    from msklabel.segment import LabelPrompt, Segmenter, load_backend

    segmenter = Segmenter(load_backend("litemedsam", device=device, runtime=runtime))
    try:
        from msklabel.detect import load_detector, segment_automatic

        detector = load_detector(device=device)
    except (ImportError, MsklabelError) as error:
        segment_automatic, reason = None, f"no detector: {error}"
    if segment_automatic is not None:

        def run() -> None:
            segment_automatic(volume, segmenter, detector=detector, progress=False)

        method = "detector boxes (msklabel.detect.segment_automatic)"
    else:
        from msklabel.demo import tissue_box

        def run() -> None:
            session = segmenter.session(volume)
            boxes = [b for k in range(volume.shape[0]) if (b := tissue_box(session.images[k], k))]
            session.segment(LabelPrompt(1, boxes=boxes))

        method = f"one tissue box per slice; {reason}"
    if segmenter.backend.device.type != "cpu":  # a GPU's first kernels are compiled and tuned
        run()
        segmenter.cache.clear()
        method += "; after one untimed run"
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    encoded = segmenter.cache.stats().entries
    runtime = segmenter.backend.runtime
    return {"seconds": seconds, "encoded": encoded, "method": method, "runtime": runtime}


def segment_knee_series(echoes: list[Volume], device: str = "cpu") -> dict[str, object]:
    """Segment a series (its ``echoes``) with the knee network on ``device``, as the PACS
    pipeline does; the seconds (network loaded beforehand), the method, the process's peak
    memory by then and the FLOPs of the network's passes (convolutions and matmuls of the
    same call, counted afterwards)."""
    from msklabel.bench.measure import count_flops, peak_rss
    from msklabel.kneeseg import load_segmenter, segment_knee

    segmenter = load_segmenter(device=device)
    method = "knee network (msklabel.kneeseg.segment_knee, every echo)"
    if segmenter.device.type != "cpu":  # a GPU's first kernels are compiled and tuned
        segment_knee(echoes, segmenter, progress=False)
        method += "; after one untimed run"
    start = time.perf_counter()
    segment_knee(echoes, segmenter, progress=False)
    seconds = time.perf_counter() - start
    peak = peak_rss()  # before the counting run, which is not part of the pipeline's work
    flops = count_flops(lambda: segment_knee(echoes, segmenter, progress=False))
    return {"seconds": seconds, "flops": flops, "method": method, "runtime": "torch",
            "peak_rss": peak}  # fmt: skip


def main() -> None:
    from msklabel.bench.measure import peak_rss

    parser = argparse.ArgumentParser(description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sample", help="a DICOM series folder: segment its first echo")
    source.add_argument("--phantom-slices", type=int, help="segment a phantom of N slices")
    source.add_argument("--load-only", action="store_true", help="only load the model")
    parser.add_argument(
        "--knee", action="store_true", help="the knee network instead of detector + LiteMedSAM"
    )
    parser.add_argument("--device", default="cpu", help="where the models run (default: cpu)")
    parser.add_argument(
        "--runtime", default="torch", help="what runs the image encoder (default: torch)"
    )
    args = parser.parse_args()
    if args.load_only:
        from msklabel.segment import load_backend

        load_backend("litemedsam", device=args.device)
        print(json.dumps({"peak_rss": peak_rss()}))
        return
    if args.sample:
        from msklabel.io import read_echoes

        echoes = read_echoes(args.sample)
    else:
        echoes = [phantom_volume(args.phantom_slices)]
    volume = echoes[0]
    if args.knee:
        result = segment_knee_series(echoes, args.device)
    else:
        result = segment_whole_volume(volume, args.device, args.runtime)
    result.setdefault("peak_rss", peak_rss())
    result.update(slices=volume.shape[0], shape=volume.shape)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
