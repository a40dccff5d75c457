"""``--device``: where a command runs its models (see :mod:`msklabel.device`)."""

from __future__ import annotations

import argparse


def add_device_option(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    """``--device auto|cpu|cuda|cuda:N``, resolved by :func:`device_of`; ``default`` None
    leaves the choice to a configuration file."""
    parser.add_argument(
        "--device",
        default=default,
        metavar="DEVICE",
        help="where models run: auto (a CUDA GPU if torch sees one, else the CPU), cpu, cuda "
        "or cuda:N (default: "
        + ("auto" if default == "auto" else "the configuration's, else auto")
        + ")",
    )


def device_of(args: argparse.Namespace):
    """The device ``--device`` names; a clear error (exit status 2) if it cannot be used."""
    from msklabel.device import resolve_device

    return resolve_device(args.device)
