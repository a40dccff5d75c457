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

from msklabel.cli.device import add_device_option, device_of

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

    curve = commands.add_parser(
        "curve",
        help="label-efficiency curve: held-out AUC against the share of labelled knees",
        description="For each feature set and labelled share of the training subjects, the "
        "grouped nested CV AUC of one target's stacked model (repeats draw other folds and "
        "subjects); writes curve.csv, curve.png and report.html to --out.",
    )
    _table_arguments(curve)
    curve.add_argument(
        "--target", choices=_target_names(), default="any", help="cascade target (default any)"
    )
    curve.add_argument(
        "--features",
        nargs="+",
        choices=_feature_sets(),
        default=["biomarkers", "embeddings+biomarkers"],
        help="feature sets to compare (default: biomarkers embeddings+biomarkers)",
    )
    curve.add_argument(
        "--fractions",
        nargs="+",
        type=_share,
        default=None,
        help="labelled shares (default 0.05 0.1 0.2 0.4 0.7 1)",
    )
    curve.add_argument("--repeats", type=int, default=3, help="repeats per point (default 3)")
    curve.set_defaults(handler=_curve)

    synthetic = commands.add_parser(
        "synthetic",
        help="write synthetic example tables (triage, reference, longitudinal)",
        description="Write cohort.csv (triage), reference.csv (normal knees) and "
        "longitudinal.csv (risk) from the synthetic generator, in the formats train expects.",
    )
    synthetic.add_argument("--out", type=Path, required=True, help="output folder")
    synthetic.add_argument("--subjects", type=int, default=1000, help="subjects (default 1000)")
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.add_argument(
        "--images",
        action="store_true",
        help="the imaging cohort: its 'other' finding is a joint effusion drawn into each "
        "knee's simulated image; writes each knee's LiteMedSAM embedding to OUT/embeddings",
    )
    add_device_option(synthetic)
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


def _table_arguments(parser: argparse.ArgumentParser) -> None:
    """The tables, embeddings and folds of every command that fits models."""
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
        help="model file (.skops) for train, report folder for evaluate and curve",
    )
    _embeddings_argument(parser)
    parser.add_argument("--folds", type=int, default=5, help="outer grouped folds (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--linear",
        action="store_true",
        help="logistic regression only, no gradient boosting (faster; small cohorts)",
    )


def _embeddings_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--embeddings",
        type=Path,
        default=None,
        help="folder of study embeddings, one sub-folder per knee id (msklabel embed "
        "SERIES --out DIR/<knee_id>); needed by the embedding feature sets",
    )


def _training_arguments(parser: argparse.ArgumentParser) -> None:
    _table_arguments(parser)
    parser.add_argument(
        "--features",
        choices=_feature_sets(),
        default="biomarkers",
        help="what the models fit: biomarker z-scores with age, sex and BMI (default), the "
        "knees' study embeddings, or both concatenated",
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="train: also write plots and report.html here"
    )
    parser.add_argument("--name", default=None, help="model name on the card")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
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
    _embeddings_argument(parser)


def _feature_sets() -> tuple[str, ...]:
    from msklabel.clinical.embeddings import FEATURE_SETS

    return FEATURE_SETS


def _target_names() -> tuple[str, ...]:
    from msklabel.clinical.triage import TARGET_NAMES

    return TARGET_NAMES


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"need a share in (0, 1], got {text}")
    return value


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


def _embeddings(args: argparse.Namespace, table, features: str):
    """The knees' study vectors from ``--embeddings`` where ``features`` need them."""
    from msklabel.clinical.embeddings import read_embeddings
    from msklabel.clinical.features import KNEE
    from msklabel.errors import InputError

    if features == "biomarkers":
        return None
    if args.embeddings is None:
        raise InputError(args.data, f"the {features} features need --embeddings")
    return read_embeddings(args.embeddings, table[KNEE].astype(str))


def _triage_run(args: argparse.Namespace):
    from msklabel.clinical.workflow import read_table, train_triage

    table = read_table(args.data)
    embeddings = _embeddings(args, table, args.features)
    with _table_errors(args.data):
        return train_triage(
            table,
            _reference(args),
            specificity=args.specificity,
            later_specificity=args.later_specificity,
            boosting=not args.linear,
            evaluate=getattr(args, "evaluate", True),
            n_splits=args.folds,
            n_boot=args.bootstrap,
            seed=args.seed,
            name=args.name or args.data.stem,
            features=args.features,
            embeddings=embeddings,
        )


def _risk_run(args: argparse.Namespace):
    from msklabel.clinical.workflow import read_table, train_risk

    table = read_table(args.data)
    embeddings = _embeddings(args, table, args.features)
    with _table_errors(args.data):
        return train_risk(
            table,
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
            features=args.features,
            embeddings=embeddings,
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
    from msklabel.clinical.workflow import features_of, predict_triage, read_table, write_table

    bundle = _load(args, "triage")
    if args.biomarkers is not None:
        return _predict_study(args, bundle)
    table = read_table(args.data)
    embeddings = _embeddings(args, table, features_of(bundle))
    with _table_errors(args.data):
        predictions = predict_triage(bundle, table, embeddings)
    print(f"predictions: {write_table(predictions, args.out)}")
    return 0


def _risk_predict(args: argparse.Namespace) -> int:
    from msklabel.clinical.workflow import features_of, predict_risk, read_table, write_table

    bundle = _load(args, "risk")
    if args.biomarkers is not None:
        return _predict_study(args, bundle)
    table = read_table(args.data)
    embeddings = _embeddings(args, table, features_of(bundle))
    with _table_errors(args.data):
        predictions = predict_risk(bundle, table, args.landmark, embeddings)
    print(f"predictions: {write_table(predictions, args.out)}")
    return 0


def _synthetic(args: argparse.Namespace) -> int:
    from msklabel.clinical.cohort import (
        normal_reference_table,
        synthetic_longitudinal_cohort,
        synthetic_triage_cohort,
    )
    from msklabel.clinical.workflow import write_table

    if args.images:
        from msklabel.clinical.imaging import synthetic_imaging_cohort

        cohort = synthetic_imaging_cohort(args.subjects, args.seed)
    else:
        cohort = synthetic_triage_cohort(args.subjects, args.seed)
    tables = {
        "cohort.csv": cohort,
        "reference.csv": normal_reference_table(args.subjects, args.seed + 1),
        "longitudinal.csv": synthetic_longitudinal_cohort(args.subjects, args.seed + 2),
    }
    for name, table in tables.items():
        print(f"{name}: {write_table(table, args.out / name)} ({len(table)} rows)")
    if args.images:
        from msklabel.clinical.imaging import embed_knees, knee_images
        from msklabel.features import load_embedder

        embedder = load_embedder(device=device_of(args))
        images = knee_images(cohort, args.seed, progress=True)
        folders = embed_knees(images, embedder, args.out / "embeddings")
        print(f"embeddings: {args.out / 'embeddings'} ({len(folders)} knees, {embedder.model_id})")
    return 0


def _curve(args: argparse.Namespace) -> int:
    """The label-efficiency curve of one target: curve.csv, curve.png, report.html."""
    from msklabel.clinical import plots
    from msklabel.clinical.cards import NOT_FOR_CLINICAL_USE
    from msklabel.clinical.efficiency import FRACTIONS, label_efficiency_curve, summarise_curve
    from msklabel.clinical.embeddings import feature_blocks
    from msklabel.clinical.features import feature_names
    from msklabel.clinical.report import write_curve_report
    from msklabel.clinical.stacking import StackedClassifier
    from msklabel.clinical.triage import TARGET_NAMES
    from msklabel.clinical.workflow import read_table, triage_arrays, write_table

    table = read_table(args.data)
    reference = _reference(args)
    needing = next((f for f in args.features if f != "biomarkers"), "biomarkers")
    embeddings = _embeddings(args, table, needing)
    column = TARGET_NAMES.index(args.target)
    with _table_errors(args.data):
        models = {}
        for features in args.features:
            X, Y, groups = triage_arrays(table, reference, features, embeddings)
            blocks = feature_blocks(X.shape[1], len(feature_names()), features)
            model = StackedClassifier(
                boosting=not args.linear, random_state=args.seed, blocks=blocks
            )
            models[features] = (model, X)
        curve = label_efficiency_curve(
            models, Y[:, column], groups, args.fractions or FRACTIONS,
            args.repeats, args.folds, args.seed, progress=True,
        )  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    write_table(curve, args.out / "curve.csv")
    summary = summarise_curve(curve)
    title = f"Label efficiency: {args.target} ({args.data.name})"
    note = (
        f"{len(table)} knees of {len(set(groups))} subjects, {int(Y[:, column].sum())} with "
        f"the target. Held-out AUC of the stacked model (grouped nested {args.folds}-fold "
        "CV) fitted on a random share of each training fold's subjects; mean and SD over "
        f"{args.repeats} repeats."
    )
    image = plots.label_efficiency_plot(summary, args.out / "curve.png", title, note)
    report = write_curve_report(
        args.out / "report.html", title, summary, image, note, NOT_FOR_CLINICAL_USE
    )
    print(f"report: {report}")
    for row in summary.itertuples():
        print(
            f"{row.features} {row.fraction:.0%} ({row.labelled_knees:.0f} knees): "
            f"AUC {row.auc_mean:.3f} (SD {row.auc_sd:.3f})"
        )
    return 0
