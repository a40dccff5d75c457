"""``msklabel data``: the real sample knee study and synthetic knee phantoms."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="get the sample knee study or make phantoms")
    commands = parser.add_subparsers(title="data commands", metavar="WHAT", required=True)

    sample = commands.add_parser(
        "sample",
        help="download (once), verify and copy the real sample knee study",
        description="Fetch the anonymised sagittal multi-echo knee series and two DESS knee "
        "label maps from the mskt==0.1.22 sdist on PyPI, verify every file by SHA-256, cache "
        "them ($MSKLABEL_CACHE or ~/.cache/msklabel) and copy them to --out.",
    )
    sample.add_argument("--out", type=Path, required=True, help="folder to copy the files into")
    sample.set_defaults(handler=_sample)

    phantom = commands.add_parser(
        "phantom",
        help="write a synthetic knee MR study with analytic ground truth",
        description="Write a knee-like multi-echo MR series (DICOM), its label map "
        "(labels.nii.gz, same affine) and truth.json (volumes, cartilage thickness, T2).",
    )
    phantom.add_argument("--out", type=Path, required=True, help="output folder")
    phantom.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    phantom.add_argument(
        "--orientation", choices=("axial", "sagittal", "oblique"), default="sagittal"
    )
    phantom.add_argument(
        "--spacing",
        type=_spacing,
        default=None,
        metavar="SLICE,ROW,COL",
        help="voxel size in mm along slice, row and column, e.g. 1.5,0.6,0.6",
    )
    phantom.add_argument("--echoes", type=int, default=None, help="number of echoes")
    phantom.set_defaults(handler=_phantom)

    simulate = commands.add_parser(
        "simulate",
        help="write a held-out simulated knee MR study (DICOM) and its truth (NIfTI)",
        description="Simulate a knee MR study independent of the training generators "
        "(docs/simulation.md): deformed real DESS anatomy, multi-echo spin echo by extended "
        "phase graphs, k-space truncation, bias field, Rician noise. Writes dicom/, "
        "truth.nii.gz and truth.json to --out.",
    )
    simulate.add_argument("--preset", required=True, help="clinical-3t, clinical-1.5t, pd-fatsat")
    simulate.add_argument("--seed", type=int, required=True, help="subject seed")
    simulate.add_argument("--out", type=Path, required=True, help="output folder")
    simulate.add_argument("--slices", type=int, default=None, help="fewer (centred) slices")
    simulate.add_argument("--matrix", type=int, default=None, help="reconstructed matrix side")
    simulate.add_argument("--echoes", type=int, default=None, help="only the first N echoes")
    simulate.set_defaults(handler=_simulate)


def _spacing(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not three numbers: {text!r}") from None
    if len(values) != 3 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"need three positive sizes in mm, got {text!r}")
    return values  # type: ignore[return-value]


def _sample(args: argparse.Namespace) -> int:
    from msklabel.data.sample import fetch_sample

    files = fetch_sample(args.out)
    print(f"sample DICOM series: {files.dicom_dir}")
    print(
        f"DESS label maps:     {files.dess_labels}\n                     {files.right_knee_labels}"
    )
    return 0


def _phantom(args: argparse.Namespace) -> int:
    from msklabel.data.phantom import PhantomConfig, write_phantom

    options: dict = {"seed": args.seed, "orientation": args.orientation}
    if args.spacing is not None:
        options["spacing"] = args.spacing
    if args.echoes is not None:
        options["echo_times"] = PhantomConfig.evenly_spaced_echoes(args.echoes)
    files = write_phantom(PhantomConfig(**options), args.out)
    print(f"phantom written to {args.out}: {files}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from msklabel.data.simulation import simulate_study, write_study
    from msklabel.errors import InputError

    try:
        study = simulate_study(
            args.preset, args.seed, slices=args.slices, matrix=args.matrix, echoes=args.echoes
        )
    except ValueError as error:
        raise InputError(args.preset, str(error)) from None
    paths = write_study(study, args.out)
    print(f"simulated {study.preset.name} seed {args.seed}: {study.truth.shape} voxels")
    for what, path in paths.items():
        print(f"  {what}: {path}")
    return 0
