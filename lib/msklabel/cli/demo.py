"""``msklabel demo``: the main job on embedded defaults."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="segment the sample knee study with LiteMedSAM and write the outputs",
        description="Fetch the real sample knee study (cached after the first run), segment "
        "its first echo with the embedded LiteMedSAM model, prompted by a per-slice box "
        "around the knee's tissue, and write image.nii.gz, labels.nii.gz, overlay.png and "
        "summary.json into --out.",
    )
    parser.add_argument("--out", type=Path, default=Path("msklabel-demo"), help="output folder")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from msklabel.demo import run_demo

    outputs = run_demo(args.out)
    for name, path in vars(outputs).items():
        print(f"{name:>8}: {path.resolve()}")
    return 0
