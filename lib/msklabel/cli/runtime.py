"""``--runtime``: what runs LiteMedSAM's image encoder (see
:mod:`msklabel.segment.backends.onnx_encoder`)."""

from __future__ import annotations

import argparse

#: The choices, as :data:`msklabel.segment.RUNTIMES` holds them (not imported: ``--help``
#: stays fast; tests/cli/test_runtime.py checks they agree).
CHOICES = ("torch", "onnx")


def add_runtime_option(parser: argparse.ArgumentParser) -> None:
    """``--runtime torch|onnx``, resolved by :func:`runtime_of`."""
    parser.add_argument(
        "--runtime",
        choices=CHOICES,
        default=None,
        help="what runs LiteMedSAM's image encoder: torch, or onnx (ONNX Runtime, fp32 on the "
        "CPU; torch, with the reason logged, where it cannot serve). Default: "
        "msklabel.segment.DEFAULT_RUNTIME",
    )


def runtime_of(args: argparse.Namespace) -> str:
    """The runtime ``--runtime`` names, else the library's default."""
    from msklabel.segment import DEFAULT_RUNTIME

    return args.runtime or DEFAULT_RUNTIME
