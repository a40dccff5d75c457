"""``msklabel evaluate``: models x prompt modes x datasets, scored on segmentation overlap and
biomarker agreement, per stratum (see docs/evaluation.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from msklabel.cli.device import add_device_option, device_of


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate segmentation models on the datasets of a plan (TOML)",
        description="Run every model of PLAN in each of its prompt modes on every case of its "
        "datasets; write cases.csv/.parquet (metrics per case and structure), "
        "biomarkers.csv/.parquet (predicted vs reference), summary.json and report.html into "
        "--out. Results are cached in OUT/cache: a re-run computes only what is missing.",
    )
    parser.add_argument("plan", type=Path, metavar="PLAN", help="plan file (TOML)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    add_device_option(parser)
    parser.set_defaults(handler=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from msklabel.evaluation.runner import evaluate

    result = evaluate(args.plan, args.out, device=device_of(args))
    overall = [e for e in result.summary["segmentation"] if e["stratum"] == "all"]
    for entry in overall:
        dice = entry["dice"]
        print(
            f"{entry['model']} {entry['prompt']} {entry['structure']}: Dice {dice['value']:.3f} "
            f"(95% CI {dice['low']:.3f}-{dice['high']:.3f}, n={entry['n']})"
        )
    for flag in result.summary["flags"]:
        print(
            f"FLAG: {flag['model']} {flag['prompt']} {flag['structure']} {flag['metric']} "
            f"differs between {flag['stratum']} {flag['levels'][0]} and {flag['levels'][1]}"
        )
    print(f"{result.computed} results computed, {result.reused} reused from the cache")
    for error in result.errors:
        print(f"FAILED: {error}")
    for path in result.paths.values():
        print(f"  {path}")
    return 1 if result.errors else 0
