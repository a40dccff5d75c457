"""``msklabel triage`` and ``msklabel risk``: train, evaluate and predict on CSV / Parquet.

Without ``--model``, prediction uses the shipped demonstration models (trained on
synthetic data; not for clinical use). ``msklabel triage synthetic`` writes example
tables in the expected formats.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_DEMO_NOTE = "default: the shipped demonstration model (synthetic data, not for clinical use)"


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_triage(subparsers)
    _register_risk(subparsers)


def _register_triage(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "triage",
        help="knee triage cascade (A any abnormality, B bone/cartilage, C where)",
        description="Three-stage knee MRI triage cascade on biomarker tables (one row per knee).",
    )
    commands = parser.add_subparsers(title="triage commands", metavar="WHAT", required=True)
    for name, handler, help_text in (
        ("train", _train, "evaluate by nested CV, fit on all knees, save model + card"),
        ("evaluate", _evaluate, "nested CV evaluation: metrics with CIs, plots, report"),
    ):
        command = commands.add_parser(name, help=help_text, description=help_text)
        _training_arguments(command)
        command.add_argument(
            "--specificity",
            type=_fraction,
            default=0.9,
            help="specificity kept by stage A (default 0.9)",
        )
        command.add_argument(
            "--later-specificity",
            type=_fraction,
            default=0.9,
            help="specificity kept by stages B and C (default 0.9)",
        )
        command.set_defaults(handler=handler, run=_triage_run, write_report=_write_triage_report)
    predict = commands.add_parser(
        "predict",
        help="stage probabilities and decisions for a table or one study",
        description="Predict for a biomarker table (--data) or one study's biomarkers JSON.",
    )
    _predict_arguments(predict)
    predict.set_defaults(handler=_triage_predict, default_model="triage")

    synthetic = commands.add_parser(
        "synthetic",
        help="write synthetic example tables (triage, reference, longitudinal)",
        description="Write cohort.csv (triage), reference.csv (normal knees) and "
        "longitudinal.csv (risk) from the synthetic generator, in the formats train expects.",
    )
    synthetic.add_argument("--out", type=Path, required=True, help="output folder")
    synthetic.add_argument("--subjects", type=int, default=1000, help="subjects (default 1000)")
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.set_defaults(handler=_synthetic)


def _register_risk(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "risk",
        help="48-month landmark risk of knee replacement (tkr) or incident OA (oa)",
        description="Landmark risk models on longitudinal biomarker tables "
        "(one row per knee and visit).",
    )
    commands = parser.add_subparsers(title="risk commands", metavar="WHAT", required=True)
    for name, handler, help_text in (
        ("train", _train, "evaluate by nested CV, fit on all landmark rows, save model"),
        ("evaluate", _evaluate, "nested CV evaluation: metrics with CIs, plots, report"),
    ):
        command = commands.add_parser(name, help=help_text, description=help_text)
        _training_arguments(command)
        command.add_argument("--outcome", choices=("tkr", "oa"), required=True)
        command.add_argument(
            "--specificity",
            type=_fraction,
            default=0.9,
            help="specificity kept by the high-risk flag (default 0.9)",
        )
        command.add_argument("--horizon", type=int, default=48, help="months (default 48)")
        command.set_defaults(handler=handler, run=_risk_run, write_report=_write_risk_report)
    predict = commands.add_parser(
        "predict",
        help="risk probability and high-risk flag for a table or one study",
        description="Predict for a longitudinal table (--data, at --landmark) or one "
        "study's biomarkers JSON (a single visit).",
    )
    _predict_arguments(predict)
    predict.add_argument(
        "--landmark", type=int, default=0, help="use the visits up to this month (default 0)"
    )
    predict.set_defaults(handler=_risk_predict, default_model="tkr")


def _training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="CSV or Parquet table")
    parser.add_argument(
        "--reference",
        type=Path,
        required=True,
        help="CSV or Parquet table of normal knees (z-score reference)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="model file (.skops) for train, report folder for evaluate",
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="train: also write plots and report.html here"
    )
    parser.add_argument("--name", default=None, help="model name on the card")
    parser.add_argument("--folds", type=int, default=5, help="outer grouped folds (default 5)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--linear",
        action="store_true",
        help="logistic regression only, no gradient boosting (faster; small cohorts)",
    )
    if parser.prog.endswith(" train"):
        parser.add_argument(
            "--no-evaluate",
            dest="evaluate",
            action="store_false",
            help="skip the nested cross-validation (the card then has no metrics)",
        )


def _predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        help=f"model file, or tkr / oa / triage for a demo model ({_DEMO_NOTE})",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="CSV or Parquet table")
    source.add_argument("--biomarkers", type=Path, help="one study's biomarkers JSON")
    parser.add_argument(
        "--dicom",
        type=Path,
        default=None,
        help="a DICOM file of the study: age, sex and BMI from its header",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="predictions table (.csv/.parquet) or JSON for --biomarkers",
    )


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"need a fraction between 0 and 1, got {text}")
    return value


@contextmanager
def _table_errors(path: Path) -> Iterator[None]:
    """Report a table the models cannot use (missing columns, too few cases) as an input error."""
    from msklabel.errors import InputError, MsklabelError

    try:
        yield
    except MsklabelError:
        raise
    except (KeyError, ValueError) as error:
        raise InputError(path, str(error).strip("'\"")) from None


def _reference(args: argparse.Namespace):
    from msklabel.clinical.features import ReferenceCohort
    from msklabel.clinical.workflow import read_table

    return ReferenceCohort.from_table(read_table(args.reference))


def _triage_run(args: argparse.Namespace):
    from msklabel.clinical.workflow import read_table, train_triage

    with _table_errors(args.data):
        return train_triage(
            read_table(args.data),
            _reference(args),
            specificity=args.specificity,
            later_specificity=args.later_specificity,
            boosting=not args.linear,
            evaluate=getattr(args, "evaluate", True),
            n_splits=args.folds,
            n_boot=args.bootstrap,
            seed=args.seed,
            name=args.name or args.data.stem,
        )


def _risk_run(args: argparse.Namespace):
    from msklabel.clinical.workflow import read_table, train_risk

    with _table_errors(args.data):
        return train_risk(
            read_table(args.data),
            _reference(args),
            args.outcome,
            specificity=args.specificity,
            horizon_months=args.horizon,
            boosting=not args.linear,
            evaluate=getattr(args, "evaluate", True),
            n_splits=args.folds,
            n_boot=args.bootstrap,
            seed=args.seed,
            name=args.name or f"{args.outcome}-{args.data.stem}",
        )


def _train(args: argparse.Namespace) -> int:
    """Train (the run is ``args.run``), save the model and card, optionally write a report."""
    from msklabel.clinical.bundle import save_bundle

    run = args.run(args)
    print(f"model: {save_bundle(run.bundle, args.out)}")
    if args.report is not None and run.evaluation is not None:
        print(f"report: {args.write_report(run, args.report)}")
    _print_metrics(run.bundle.card)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    """Evaluate by nested cross-validation and write the report into ``args.out``."""
    run = args.run(args)
    print(f"report: {args.write_report(run, args.out)}")
    _print_metrics(run.bundle.card)
    return 0


def _write_triage_report(run: object, out: Path) -> Path:
    from msklabel.clinical.workflow import write_triage_report

    return write_triage_report(run, out)


def _write_risk_report(run: object, out: Path) -> Path:
    from msklabel.clinical.workflow import write_risk_report

    return write_risk_report(run, out)


def _print_metrics(card) -> None:
    for caveat in card.caveats:
        print(f"NOTE: {caveat}")
    for name, est in card.metrics.items():
        print(f"{name}: {est['value']:.3f} (95% CI {est['low']:.3f}-{est['high']:.3f})")


def _load(args: argparse.Namespace, kind: str):
    from msklabel.clinical.bundle import load_bundle
    from msklabel.errors import InputError

    name = args.model or args.default_model
    bundle = load_bundle(name)
    if bundle.kind != kind:
        raise InputError(name, f"a {bundle.kind} model, not a {kind} model")
    if bundle.card.demonstration:
        print("NOTE: demonstration model trained on synthetic data; not for clinical use.")
    return bundle


def _predict_study(args: argparse.Namespace, bundle) -> int:
    from msklabel.clinical.workflow import predict_study
    from msklabel.errors import InputError
    from msklabel.pacs.features import quality_reasons

    try:
        biomarkers = json.loads(args.biomarkers.read_text())
    except (OSError, ValueError) as error:
        raise InputError(args.biomarkers, f"not a readable JSON file ({error})") from None
    refused = quality_reasons(biomarkers) if isinstance(biomarkers, dict) else []
    if refused:
        raise InputError(
            args.biomarkers,
            "the models do not run on structures that failed the quality gate: "
            + " | ".join(refused),
        )
    header = None
    if args.dicom is not None:
        import pydicom

        header = pydicom.dcmread(args.dicom, stop_before_pixels=True)
    try:
        prediction = predict_study(biomarkers, [bundle], header=header)
    except ValueError as error:
        raise InputError(args.biomarkers, str(error)) from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(prediction.to_json())
    for item in prediction.predictions:
        decision = {None: "not reached", True: "flagged", False: "not flagged"}[item.decision]
        print(f"{item.description}: p={item.probability:.3f} ({decision})")
    return 0


def _triage_predict(args: argparse.Namespace) -> int:
    from msklabel.clinical.workflow import predict_triage, read_table, write_table

    bundle = _load(args, "triage")
    if args.biomarkers is not None:
        return _predict_study(args, bundle)
    print(f"predictions: {write_table(predict_triage(bundle, read_table(args.data)), args.out)}")
    return 0


def _risk_predict(args: argparse.Namespace) -> int:
    from msklabel.clinical.workflow import predict_risk, read_table, write_table

    bundle = _load(args, "risk")
    if args.biomarkers is not None:
        return _predict_study(args, bundle)
    table = predict_risk(bundle, read_table(args.data), args.landmark)
    print(f"predictions: {write_table(table, args.out)}")
    return 0


def _synthetic(args: argparse.Namespace) -> int:
    from msklabel.clinical.cohort import (
        normal_reference_table,
        synthetic_longitudinal_cohort,
        synthetic_triage_cohort,
    )
    from msklabel.clinical.workflow import write_table

    tables = {
        "cohort.csv": synthetic_triage_cohort(args.subjects, args.seed),
        "reference.csv": normal_reference_table(args.subjects, args.seed + 1),
        "longitudinal.csv": synthetic_longitudinal_cohort(args.subjects, args.seed + 2),
    }
    for name, table in tables.items():
        print(f"{name}: {write_table(table, args.out / name)} ({len(table)} rows)")
    return 0
