"""``msklabel bench``: the performance table, every figure beside its reference and ratio."""

from __future__ import annotations

import argparse
from pathlib import Path

from msklabel.bench import FAMILIES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure speed, latency, throughput and memory against references",
        description="Measure the encoder, click latency, automatic segmentation, the DICOM "
        "listener, arrival-to-results, SEG/SR writing and memory; each row is shown beside "
        "a reference measured in the same run (a compute limit or a peer tool) and the ratio.",
    )
    parser.add_argument("--quick", action="store_true", help="a shorter run (under 3 minutes)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    parser.add_argument(
        "--only", nargs="+", choices=FAMILIES, metavar="FAMILY",
        help=f"run only these row families ({', '.join(FAMILIES)})",
    )  # fmt: skip
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from msklabel.bench.context import BenchSettings
    from msklabel.bench.report import format_table, write_json
    from msklabel.bench.runner import run_bench

    rows, context = run_bench(BenchSettings(quick=args.quick), args.only)
    print(format_table(rows))
    if args.json is not None:
        write_json(rows, args.json, context)
        print(f"rows written to {args.json}")
    return 0
