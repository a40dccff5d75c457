"""The ``msklabel`` command: one sub-command module per task.

Each module in this package exposes ``register(subparsers)``, which adds its
sub-command and sets ``handler`` to a function taking the parsed arguments and
returning an exit status. Heavy imports happen inside the handlers so that
``msklabel --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from msklabel import __version__
from msklabel.errors import MsklabelError

from . import (
    bench,
    clinical,
    data,
    demo,
    detect,
    evaluate,
    features,
    kneeseg,
    listen,
    measure,
    segment,
    serve,
    status,
)

COMMANDS = (
    data, demo, segment, features, kneeseg, detect, measure, evaluate, clinical, serve, listen,
    status, bench,
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msklabel",
        description="Musculoskeletal MRI segmentation, biomarkers and PACS integration.",
    )
    parser.add_argument("--version", action="version", version=f"msklabel {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # highdicom logs every attribute module it copies
        logging.getLogger("highdicom").setLevel(logging.WARNING)
    try:
        return int(args.handler(args) or 0)
    except MsklabelError as error:
        print(f"msklabel: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("msklabel: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
