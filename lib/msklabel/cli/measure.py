"""``msklabel measure``: knee biomarkers of a label map as JSON, DICOM SEG + SR and a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from msklabel.cli.demo import add_quality_option, quality_rules


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "measure",
        help="measure a knee label map: biomarkers.json, SEG, SR and report",
        description="Measure the knee biomarkers (volumes, cartilage thickness per plate and "
        "region, T2 from all echoes of a multi-echo series) of a label map on a DICOM MR "
        "series, and write biomarkers.json, seg.dcm (DICOM-SEG), sr.dcm (TID 1500 SR), "
        "report.png, report.pdf and report.dcm (Secondary Capture) into --out.",
    )
    parser.add_argument("series", type=Path, metavar="SERIES", help="folder of the DICOM series")
    parser.add_argument(
        "--labels",
        type=Path,
        required=True,
        help="label map on the series' grid: NIfTI (.nii, .nii.gz) or a DICOM-SEG of the series",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument(
        "--echo-time",
        type=float,
        default=None,
        metavar="MS",
        help="the echo whose images the labels and the SEG refer to (default: the first)",
    )
    parser.add_argument(
        "--series-uid",
        default=None,
        metavar="UID",
        help="the Series Instance UID to measure when SERIES holds several series",
    )
    add_quality_option(parser)
    parser.set_defaults(handler=_measure)


def _measure(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from msklabel.io import read_echoes
    from msklabel.io.acquisition import Acquisition
    from msklabel.results.study import STEPS, measure_study, read_labels

    rules = quality_rules(args)  # a bad file is reported before any work
    started: list[str] = []
    with tqdm(total=3 + len(STEPS), unit="step", disable=None) as progress:

        def step(name: str) -> None:
            """Count the step before (if any) as done and show ``name``."""
            if started:
                progress.update()
            started.append(name)
            progress.set_description_str(name)

        step("reading series")
        echoes = read_echoes(args.series, args.series_uid)
        image = _reference_echo(echoes, args.echo_time, args.series)
        step("reading labels")
        labels = read_labels(args.labels, image)
        report = measure_study(
            image, labels, echoes=echoes, labels_name=str(args.labels), on_step=step,
            rules=rules, acquisition=Acquisition.of(image),
        )  # fmt: skip
        step("writing files")
        paths = report.write(args.out)
        progress.update()
    print(f"{len(report.result.measurements)} measurements; quality: {report.quality.summary()}")
    print(f"files in {args.out}:")
    for path in paths.values():
        print(f"  {path.name}")
    return 0


def _reference_echo(echoes: list, echo_time: float | None, folder: Path):
    """The echo at ``echo_time`` ms (default: the first)."""
    from msklabel.errors import InputError
    from msklabel.io import echo_at

    if echo_time is None:
        return echoes[0]
    echo = echo_at(echoes, echo_time)
    if echo is not None:
        return echo
    times = ", ".join(f"{v.echo_time:g}" for v in echoes if v.echo_time is not None)
    raise InputError(folder, f"no echo at {echo_time:g} ms; echo times: {times or 'none'}")
