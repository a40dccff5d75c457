"""``msklabel status``: studies received, jobs and their steps with timings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from msklabel.cli.listen import add_state_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show the PACS routing state: studies, jobs, steps and timings",
        description="Read the routing state of `msklabel listen` from its storage folder "
        "(or its HTTP status URL) and print studies, kept-aside instances and jobs with "
        "their steps, durations and reasons.",
    )
    add_state_options(parser)
    parser.add_argument("--url", help="an HTTP status URL, e.g. http://127.0.0.1:11180/status")
    parser.add_argument("--json", action="store_true", help="print the raw JSON")
    parser.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    summary = _read(args)
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"{len(summary['studies'])} studies, {summary['instances']} instances stored, "
          f"{len(summary['quarantined'])} kept aside")  # fmt: skip
    for study in summary["studies"]:
        print(f"study {study['study_uid']}: {study['instances']} instances, "
              f"revision {study['revision']}, {study['state']}")  # fmt: skip
    for item in summary["quarantined"]:
        print(f"kept aside ({item['kind']}): {item['reason']} -> {item['folder']}")
    counts = ", ".join(f"{n} {state}" for state, n in sorted(summary["job_counts"].items()))
    print(f"jobs: {counts or 'none'}")
    for job in summary["jobs"]:
        print(_job_line(job))
        for step in job["steps"]:
            seconds = "" if step["seconds"] is None else f"{step['seconds']:.1f} s"
            print(
                f"    {step['name']:<10} {step['state']:<11} {seconds:>9}  {step['detail'] or ''}"
            )
    return 0


def _job_line(job: dict[str, Any]) -> str:
    line = (
        f"job {job['id']} study {job['study_uid']} revision {job['revision']}: {job['state']} "
        f"(attempts {job['attempts']})"
    )
    if job["started"] and job["finished"]:
        line += f", {job['finished'] - job['started']:.1f} s"
    return line + (f"\n    reason: {job['error']}" if job["error"] else "")


def _read(args: argparse.Namespace) -> dict[str, Any]:
    if args.url:
        import urllib.request

        with urllib.request.urlopen(args.url, timeout=10) as response:
            return json.loads(response.read())
    from msklabel.errors import InputError
    from msklabel.pacs import StatusStore, load_config

    storage = args.storage or load_config(args.config).storage
    path = Path(storage).expanduser() / "status.sqlite3"
    if not path.is_file():
        raise InputError(path, "no routing state here (has `msklabel listen` run?)")
    return StatusStore(path).summary()
