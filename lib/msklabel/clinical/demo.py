"""The demonstration models: trained on synthetic cohorts, deterministically.

``python scripts/make_clinical_demo_models.py`` (or :func:`build_demo_models`)
regenerates ``msklabel/clinical/models/*.skops``, their cards and reports. The cohorts
come from :mod:`~msklabel.clinical.cohort`; every card, report and SR item made with
these models says that they are demonstrations.
"""

from __future__ import annotations

from pathlib import Path

from .bundle import DEFAULT_MODELS, save_bundle
from .cohort import normal_reference_table, synthetic_longitudinal_cohort, synthetic_triage_cohort
from .features import ReferenceCohort
from .workflow import train_risk, train_triage, write_risk_report, write_triage_report

TRIAGE_SUBJECTS, RISK_SUBJECTS, REFERENCE_SUBJECTS = 2500, 1500, 2000
_SYNTHETIC = (
    "Synthetic cohort from msklabel.clinical.cohort (seed {seed}): {n} subjects, two knees "
    "each; z-score reference from {ref} separate synthetic subjects' normal knees."
)


def demo_reference() -> ReferenceCohort:
    return ReferenceCohort.from_table(normal_reference_table(REFERENCE_SUBJECTS, seed=1))


def build_demo_models(
    models: dict[str, Path] = DEFAULT_MODELS, report_dir: Path | None = None, n_boot: int = 1000
) -> dict[str, Path]:
    """Train, evaluate and save the triage, TKR and incident-OA demonstration models."""
    reference = demo_reference()
    runs = {
        "triage": train_triage(
            synthetic_triage_cohort(TRIAGE_SUBJECTS, seed=0), reference, n_boot=n_boot,
            name="triage-demo", demonstration=True,
            data_description=_SYNTHETIC.format(seed=0, n=TRIAGE_SUBJECTS, ref=REFERENCE_SUBJECTS),
        ),
    }  # fmt: skip
    longitudinal = synthetic_longitudinal_cohort(RISK_SUBJECTS, seed=2)
    for outcome in ("tkr", "oa"):
        runs[outcome] = train_risk(
            longitudinal, reference, outcome, n_boot=n_boot, name=f"{outcome}-demo",
            demonstration=True,
            data_description=_SYNTHETIC.format(seed=2, n=RISK_SUBJECTS, ref=REFERENCE_SUBJECTS)
            + " Visits every 12 months to 96 months; random dropout.",
        )  # fmt: skip
    for key, run in runs.items():
        save_bundle(run.bundle, models[key])
        if report_dir is not None:
            write = write_triage_report if key == "triage" else write_risk_report
            write(run, Path(report_dir) / key)
    return dict(models)
