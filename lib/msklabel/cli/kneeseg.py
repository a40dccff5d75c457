"""``msklabel kneeseg``: train and run the automatic knee segmentation network."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from msklabel.cli.device import add_device_option, device_of


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "kneeseg",
        help="automatic knee segmentation network: train, predict",
        description="The network that segments every knee structure with no prompts "
        "(docs/kneeseg.md).",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    train = actions.add_parser(
        "train",
        help="train the network on a preset and/or your label volumes",
        description="Train on the label volumes of --preset (default: the sample's two DESS "
        "knee label maps and a phantom; phantom: a short phantom-only run) and/or on --labels "
        "(NIfTI label maps with KneeLabel values, 12 for the fibula), from synthesised images, "
        "then write the weights to --out.",
    )
    train.add_argument("--out", type=Path, required=True, help="weights file to write (.pt)")
    train.add_argument("--preset", choices=("default", "phantom"), default=None)
    train.add_argument("--labels", type=Path, nargs="+", default=(), help="NIfTI label maps")
    train.add_argument("--steps", type=int, default=None, help="training steps (preset's)")
    train.add_argument("--seed", type=int, default=None, help="random seed (preset's: 0)")
    add_device_option(train)
    train.set_defaults(handler=_train)

    predict = actions.add_parser(
        "predict",
        help="segment a sagittal knee series",
        description="Segment every knee structure of a sagittal series (a DICOM folder or "
        "NIfTI files; all echoes of a multi-echo series are read) and write labels.nii.gz "
        "(KneeLabel values, the series' grid) and scores.json (per-slice confidence).",
    )
    predict.add_argument("input", type=Path, nargs="+", help="DICOM folder/files or NIfTI")
    predict.add_argument("--out", type=Path, required=True, help="output folder")
    predict.add_argument("--weights", type=Path, default=None, help="weights (default: shipped)")
    predict.add_argument("--series", default=None, help="Series Instance UID to segment")
    predict.add_argument("--laterality", choices=("right", "left"), default=None)
    add_device_option(predict)
    predict.set_defaults(handler=_predict)


def _train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from msklabel.errors import InputError
    from msklabel.io.nifti import read_nifti
    from msklabel.kneeseg.presets import PRESETS, training_volumes
    from msklabel.kneeseg.training import train_segmenter

    if args.preset is None and not args.labels:
        raise InputError(args.out, "nothing to train on: give --preset and/or --labels")
    device = device_of(args)
    started = time.perf_counter()
    config = PRESETS[args.preset or "default"]
    changes = {"steps": args.steps, "seed": args.seed}
    try:
        config = replace(config, **{k: v for k, v in changes.items() if v is not None})
    except ValueError as error:
        raise InputError(args.out, str(error)) from None
    volumes = training_volumes(args.preset) if args.preset else []
    volumes += [read_nifti(path) for path in args.labels]
    segmenter = train_segmenter(volumes, config, device=device)
    segmenter.info["command"] = "msklabel kneeseg train " + " ".join(
        ([f"--preset {args.preset}"] if args.preset else [])
        + ([f"--labels {' '.join(p.name for p in args.labels)}"] if args.labels else [])
        + ([f"--steps {args.steps}"] if args.steps is not None else [])
        + ([f"--seed {args.seed}"] if args.seed is not None else [])
    )
    segmenter.info["total_seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    segmenter.save(args.out)
    print(f"segmenter: {args.out.resolve()} ({segmenter.info['total_seconds']} s)")
    return 0


def _predict(args: argparse.Namespace) -> int:
    import numpy as np

    from msklabel.io import read_echoes
    from msklabel.io.nifti import write_nifti
    from msklabel.kneeseg.automatic import load_segmenter, segment_knee
    from msklabel.labels import KneeLabel

    device = device_of(args)
    echoes = read_echoes(args.input, args.series)
    result = segment_knee(echoes, load_segmenter(args.weights, device), args.laterality)
    args.out.mkdir(parents=True, exist_ok=True)
    write_nifti(result.labels, args.out / "labels.nii.gz")
    scores = {
        KneeLabel(label).key: [None if np.isnan(s) else round(float(s), 4) for s in values]
        for label, values in result.scores.items()
    }
    (args.out / "scores.json").write_text(json.dumps(scores, indent=2))
    print(f"labels: {(args.out / 'labels.nii.gz').resolve()}")
    return 0
