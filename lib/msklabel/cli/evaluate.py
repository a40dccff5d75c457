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
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run each case x configuration as a task on Dask: tcp://HOST:PORT of a running "
        "scheduler (OUT must be a folder every worker sees at the same path), or 'local' for "
        "a local cluster of --workers processes (default: this process only)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes of --scheduler local"
    )
    add_device_option(parser)
    parser.set_defaults(handler=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from msklabel.evaluation.runner import evaluate

    if args.scheduler is None:
        result = evaluate(args.plan, args.out, device=device_of(args))
    else:
        from msklabel.evaluation.cluster import connect

        with connect(args.scheduler, args.workers) as client:
            print(f"Dask scheduler {client.scheduler.address}")
            result = evaluate(args.plan, args.out, client=client, device=device_of(args))
    overall = [e for e in result.summary["segmentation"] if e["stratum"] == "all"]
    for entry in overall:
        dice = entry["dice"]
        print(
            f"{entry['model']} {entry['prompt']} {entry['structure']}: Dice {dice['value']:.3f} "
            f"(95% CI {dice['low']:.3f}-{dice['high']:.3f}, n={entry['n']})"
        )
    for flag, same in _distinct_flags(result.summary["flags"]):
        also = f" (the same split: {', '.join(same)})" if same else ""
        print(
            f"FLAG: {flag['model']} {flag['prompt']} {flag['structure']} {flag['metric']} "
            f"differs between {flag['stratum']} {flag['levels'][0]} and {flag['levels'][1]}{also}"
        )
    print(f"{result.computed} results computed, {result.reused} reused from the cache")
    for error in result.errors:
        print(f"FAILED: {error}")
    for path in result.paths.values():
        print(f"  {path}")
    return 1 if result.errors else 0


def _distinct_flags(flags: list[dict]) -> list[tuple[dict, list[str]]]:
    """The flags with one entry per split of the cases: strata that separate the same
    cases (e.g. sequence, acquisition type and echo times of two sequences) give equal
    means, and are named together after the first."""
    distinct: dict[tuple, tuple[dict, list[str]]] = {}
    for flag in flags:
        key = (flag["model"], flag["prompt"], flag["structure"], flag["metric"],
               tuple(sorted(flag["means"])))  # fmt: skip
        if key in distinct:
            distinct[key][1].append(flag["stratum"])
        else:
            distinct[key] = (flag, [])
    return list(distinct.values())
