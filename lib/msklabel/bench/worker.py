"""A segmentation worker in its own process: automatic segmentation of one volume, timed,
with the process's peak resident memory. Run as
``python -m msklabel.bench.worker (--sample DIR | --phantom-slices N | --load-only)
[--device cpu|cuda] [--runtime torch|onnx]``; prints one JSON line.
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


def main() -> None:
    from msklabel.bench.measure import peak_rss

    parser = argparse.ArgumentParser(description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sample", help="a DICOM series folder: segment its first echo")
    source.add_argument("--phantom-slices", type=int, help="segment a phantom of N slices")
    source.add_argument("--load-only", action="store_true", help="only load the model")
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
        from msklabel.io import read_volumes

        volume = read_volumes(args.sample)[0]
    else:
        volume = phantom_volume(args.phantom_slices)
    result = segment_whole_volume(volume, args.device, args.runtime)
    result.update(slices=volume.shape[0], shape=volume.shape, peak_rss=peak_rss())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
