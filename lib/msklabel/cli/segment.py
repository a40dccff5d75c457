"""``msklabel segment``: promptable segmentation of an MR volume from a prompts file."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from msklabel.cli.device import add_device_option, device_of
from msklabel.cli.runtime import add_runtime_option, runtime_of

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="segment a volume from point and box prompts (LiteMedSAM, SAM, MedSAM, SAM2)",
        description="Segment INPUT (a DICOM series folder or a NIfTI file) from the prompts in "
        "--prompts (format: docs/prompts.md) and write labels.nii.gz, with the input's affine, "
        "and scores.json (the model's predicted IoU per label and slice) to --out.",
    )
    parser.add_argument("input", type=Path, metavar="INPUT", help="DICOM folder or NIfTI file")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--prompts", type=Path, required=True, help="prompts JSON file")
    parser.add_argument(
        "--model",
        choices=("litemedsam", "sam", "medsam", "sam2"),
        default="litemedsam",
        help="segmentation model (default: litemedsam, whose weights are embedded)",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="weights file (required except for litemedsam)",
    )
    parser.add_argument(
        "--variant",
        default=None,
        help="architecture: SAM vit_b (default), vit_l or vit_h; SAM2.1 hiera_t, hiera_s, "
        "hiera_b+ (default) or hiera_l, or SAM2 with a 2_ prefix (2_hiera_l)",
    )
    parser.add_argument("--echo-time", type=float, default=None, help="echo to segment (ms)")
    parser.add_argument("--series-uid", default=None, help="Series Instance UID to segment")
    add_device_option(parser)
    add_runtime_option(parser)
    parser.set_defaults(handler=_segment)


def _segment(args: argparse.Namespace) -> int:
    from msklabel.io import read_volume
    from msklabel.io.nifti import write_nifti
    from msklabel.segment import Segmenter, check_model_runtime, load_backend, load_prompts

    check_model_runtime(args.model, runtime_of(args))  # before reading any input
    device = device_of(args)
    prompts = load_prompts(args.prompts)
    volume = read_volume(args.input, series_instance_uid=args.series_uid, echo_time=args.echo_time)
    backend = load_backend(
        args.model, args.checkpoint, args.variant, device=device, runtime=runtime_of(args)
    )
    result = Segmenter(backend).segment(volume, prompts)
    args.out.mkdir(parents=True, exist_ok=True)
    write_nifti(result.labels, args.out / "labels.nii.gz")
    scores = {
        str(label): [None if value != value else round(float(value), 4) for value in values]
        for label, values in result.scores.items()
    }
    (args.out / "scores.json").write_text(json.dumps({"model": backend.model_id, "scores": scores}))
    log.info("wrote %s", args.out / "labels.nii.gz")
    return 0
