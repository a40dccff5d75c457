"""``msklabel demo``: the main job on embedded defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

from msklabel.cli.device import add_device_option, device_of


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="segment and measure the sample knee study automatically, write the outputs",
        description="Fetch the real sample knee study (cached after the first run), segment "
        "it with the shipped knee network (femur, tibia, patella, cartilage plates, menisci; "
        "no prompts), measure the structures (T2 from the echoes) and write image.nii.gz, "
        "labels.nii.gz, overlay.png, summary.json, "
        "biomarkers.json, seg.dcm (DICOM SEG), sr.dcm (TID 1500 SR) and report.png/.pdf/.dcm "
        "into --out. Every structure gets a quality verdict (pass / doubtful / fail); a failed "
        "structure's values are withheld from the SR, the report and biomarkers.json's rows.",
    )
    parser.add_argument("--out", type=Path, default=Path("msklabel-demo"), help="output folder")
    add_quality_option(parser)
    add_device_option(parser)
    parser.set_defaults(handler=_run)


def add_quality_option(parser: argparse.ArgumentParser) -> None:
    """``--quality FILE``: the quality gate's limits (a TOML file with a [quality] table)."""
    parser.add_argument(
        "--quality",
        type=Path,
        default=None,
        metavar="FILE",
        help="quality gate limits: a TOML file with a [quality] table (see docs/quality.md; "
        "default: the documented defaults)",
    )


def quality_rules(args: argparse.Namespace):
    """The rules ``--quality`` names, or the defaults."""
    from msklabel.biomarkers.quality import DEFAULT_RULES, load_rules

    return DEFAULT_RULES if args.quality is None else load_rules(args.quality)


def _run(args: argparse.Namespace) -> int:
    from msklabel.demo import run_demo

    outputs = run_demo(args.out, rules=quality_rules(args), device=device_of(args))
    named = {**vars(outputs), **outputs.results}
    del named["results"]
    for name, path in named.items():
        print(f"{name:>15}: {path.resolve()}")
    return 0
