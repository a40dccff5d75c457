"""``msklabel detect``: train, evaluate and run the knee structure detector."""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

from msklabel.cli.device import add_device_option, device_of
from msklabel.cli.runtime import add_runtime_option, runtime_of

log = logging.getLogger(__name__)

MODELS = ("litemedsam", "sam", "medsam", "sam2")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="detect knee structures per slice: train, evaluate, predict (automatic prompts)",
        description="The detector whose boxes prompt fully automatic segmentation "
        "(docs/detection.md).",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    train = actions.add_parser(
        "train",
        help="train a detector on a preset and/or your label volumes",
        description="Train on the label volumes of --preset (default: phantoms and the sample's "
        "DESS label maps; phantom: a short phantom-only run) and/or on --labels (NIfTI label "
        "maps with KneeLabel values, sagittal or resliceable; with --images, each with its image, "
        "which is then trained on as well), then write the weights to --out.",
    )
    train.add_argument("--out", type=Path, required=True, help="weights file to write (.pt)")
    train.add_argument("--preset", choices=("default", "phantom"), default=None)
    train.add_argument("--labels", type=Path, nargs="+", default=(), help="NIfTI label maps")
    train.add_argument(
        "--images", type=Path, nargs="+", default=(), help="NIfTI image of each label map"
    )
    train.add_argument("--steps", type=int, default=None, help="training steps (preset's)")
    train.add_argument("--seed", type=int, default=None, help="random seed (preset's: 0)")
    train.add_argument(
        "--context",
        type=int,
        default=None,
        help="neighbouring slices either side seen with each slice (preset's: 0)",
    )
    add_device_option(train)
    train.set_defaults(handler=_train)

    evaluate = actions.add_parser(
        "evaluate",
        help="box recall/precision at IoU 0.5 and detector- vs truth-prompted Dice",
        description="Evaluate on a labelled volume (INPUT: DICOM folder or NIfTI, --labels: "
        "its label map) or on a held-out phantom (--phantom SEED). Prints a table and writes "
        "--out (JSON) if given.",
    )
    evaluate.add_argument("input", type=Path, nargs="?", metavar="INPUT", help="image volume")
    evaluate.add_argument("--labels", type=Path, default=None, help="label map of INPUT")
    evaluate.add_argument("--phantom", type=int, default=None, metavar="SEED")
    evaluate.add_argument("--slice-spacing", type=float, default=3.0, help="phantom slices (mm)")
    evaluate.add_argument("--no-dice", action="store_true", help="boxes only (no segmentation)")
    _common(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    predict = actions.add_parser(
        "predict",
        help="segment a volume automatically (or only write the detected prompts)",
        description="Detect every knee structure in INPUT (a sagittal DICOM series folder or "
        "NIfTI file), write the boxes as prompts.json (docs/prompts.md format), and unless "
        "--boxes-only segment from them: labels.nii.gz and scores.json.",
    )
    predict.add_argument("input", type=Path, metavar="INPUT")
    predict.add_argument("--boxes-only", action="store_true", help="write prompts.json only")
    predict.add_argument("--echo-time", type=float, default=None, help="echo to use (ms)")
    predict.add_argument("--series-uid", default=None, help="Series Instance UID to use")
    _common(predict)
    predict.set_defaults(handler=_predict)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, help="output (folder for predict)")
    parser.add_argument("--detector", type=Path, default=None, help="weights (default: shipped)")
    parser.add_argument("--model", choices=MODELS, default="litemedsam", help="segmenter")
    parser.add_argument("--checkpoint", type=Path, default=None, help="segmenter weights")
    parser.add_argument("--variant", default=None, help="segmenter architecture (see segment)")
    add_device_option(parser)
    add_runtime_option(parser)


def _train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from msklabel.detect.presets import PRESETS, training_volumes
    from msklabel.detect.synth import LabelledSeries
    from msklabel.detect.training import read_labelled, train_detector
    from msklabel.errors import InputError
    from msklabel.io.nifti import read_nifti
    from msklabel.volume import Volume

    if args.preset is None and not args.labels:
        raise InputError(args.out, "nothing to train on: give --preset and/or --labels")
    if args.images and len(args.images) != len(args.labels):
        raise InputError(
            args.images[0], f"{len(args.images)} --images for {len(args.labels)} --labels"
        )
    device = device_of(args)
    started = time.perf_counter()
    config = PRESETS[args.preset or "default"]
    changes = {"steps": args.steps, "seed": args.seed, "context": args.context}
    try:
        config = replace(config, **{k: v for k, v in changes.items() if v is not None})
    except ValueError as error:
        raise InputError(args.out, str(error)) from None
    volumes: list[Volume | LabelledSeries] = []
    volumes += training_volumes(args.preset) if args.preset else []
    if args.images:
        volumes += [read_labelled(*pair) for pair in zip(args.images, args.labels, strict=True)]
    else:
        volumes += [read_nifti(path) for path in args.labels]
    detector = train_detector(volumes, config, device=device)
    detector.info["command"] = "msklabel detect train " + " ".join(
        ([f"--preset {args.preset}"] if args.preset else [])
        + ([f"--labels {' '.join(p.name for p in args.labels)}"] if args.labels else [])
        + ([f"--images {' '.join(p.name for p in args.images)}"] if args.images else [])
        + ([f"--steps {args.steps}"] if args.steps is not None else [])
        + ([f"--seed {args.seed}"] if args.seed is not None else [])
        + ([f"--context {args.context}"] if args.context is not None else [])
    )
    detector.info["total_seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    detector.save(args.out)
    print(f"detector: {args.out.resolve()} ({detector.info['total_seconds']} s)")
    return 0


def _segmenter(args: argparse.Namespace):
    from msklabel.segment import Segmenter, load_backend

    backend = load_backend(
        args.model, args.checkpoint, args.variant, device=device_of(args), runtime=runtime_of(args)
    )
    return Segmenter(backend)


def _evaluate(args: argparse.Namespace) -> int:
    from msklabel.detect import load_detector
    from msklabel.detect.evaluation import evaluate
    from msklabel.detect.presets import held_out_phantom
    from msklabel.errors import InputError
    from msklabel.io import read_volume
    from msklabel.io.nifti import read_nifti

    if args.phantom is not None:
        image, truth = held_out_phantom(args.phantom, args.slice_spacing)
    elif args.input is not None and args.labels is not None:
        image, truth = read_volume(args.input), read_nifti(args.labels)
        if truth.shape != image.shape:
            raise InputError(
                args.labels, f"shape {truth.shape} differs from the image's {image.shape}"
            )
    else:
        raise InputError(args.input or ".", "give INPUT and --labels, or --phantom SEED")
    segmenter = None if args.no_dice else _segmenter(args)
    detector = load_detector(args.detector, device_of(args))
    result = evaluate(image, truth, detector, segmenter).as_dict()
    print(f"{'structure':<26}{'recall':>8}{'precision':>10}{'Dice det':>10}{'Dice oracle':>12}")
    for name, row in result.items():
        cells = [row["recall"], row["precision"], row["dice_detected"], row["dice_oracle"]]
        text = "".join(
            f"{'-' if math.isnan(v) else f'{v:.3f}':>{w}}"
            for v, w in zip(cells, (8, 10, 10, 12), strict=True)
        )
        print(f"{name:<26}{text}")
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from msklabel.detect import NotSagittalError, load_detector, segment_automatic
    from msklabel.detect.automatic import prompts_for
    from msklabel.detect.consistency import find_structures
    from msklabel.errors import InputError
    from msklabel.io import read_volume
    from msklabel.io.acquisition import Acquisition
    from msklabel.io.nifti import write_nifti
    from msklabel.segment import save_prompts

    device = device_of(args)
    volume = read_volume(args.input, series_instance_uid=args.series_uid, echo_time=args.echo_time)
    detector = load_detector(args.detector, device)
    out = args.out or Path("msklabel-detect")
    out.mkdir(parents=True, exist_ok=True)
    try:
        laterality = Acquisition.of(volume).laterality
        structures = find_structures(detector.detect(volume), volume, laterality)
        if structures:
            save_prompts(prompts_for(structures), out / "prompts.json")
        if args.boxes_only:
            print(
                f" prompts: {(out / 'prompts.json').resolve()}" if structures else "nothing found"
            )
            return 0
        result = segment_automatic(volume, _segmenter(args), detector=detector)
    except NotSagittalError as error:
        raise InputError(args.input, str(error)) from None
    write_nifti(result.labels, out / "labels.nii.gz")
    scores = {
        str(label): [None if math.isnan(v) else round(float(v), 4) for v in values]
        for label, values in result.scores.items()
    }
    (out / "scores.json").write_text(json.dumps({"scores": scores}))
    for name in ("prompts.json", "labels.nii.gz", "scores.json"):
        if (out / name).exists():
            print(f"{name:>14}: {(out / name).resolve()}")
    return 0
