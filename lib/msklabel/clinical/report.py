"""One self-contained HTML report: metrics with CIs, the plots, the model card."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from .cards import ModelCard
from .evaluation import BinaryEvaluation
from .triage import StageFlow

_STYLE = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
td, th { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.caveat { background: #fff3cd; border: 1px solid #e0b000; padding: 0.6em 1em; margin: 0.6em 0; }
img { max-width: 48%; margin: 0.5%; border: 1px solid #ddd; }
"""
_METRIC_LABELS = {
    "auc": "AUC",
    "sensitivity": "sensitivity kept",
    "specificity": "specificity",
    "workload_removed": "workload removed",
    "brier": "Brier score",
    "calibration_slope": "calibration slope",
    "calibration_intercept": "calibration intercept",
}


@dataclass
class ReportSection:
    """A model (or cascade target) with its held-out evaluation and plots."""

    title: str
    evaluation: BinaryEvaluation
    images: Sequence[Path]
    note: str = ""


def write_report(
    path: Path,
    title: str,
    sections: Sequence[ReportSection],
    card: ModelCard,
    flow: Sequence[StageFlow] = (),
    extra_images: Sequence[Path] = (),
) -> Path:
    """Write the HTML report (images embedded) to ``path``, and beside it ``metrics.json``:
    the same numbers for machines (each section's evaluation, the cascade flow, the card's
    metrics)."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts += [f'<div class="caveat"><b>{html.escape(c)}</b></div>' for c in card.caveats]
    parts.append(
        "<p>All numbers come from grouped (by subject) nested cross-validation: every "
        "prediction, threshold and calibration was made by a model that never saw the "
        "knee's subject. Intervals are 95% subject-level bootstrap percentile intervals.</p>"
    )
    parts.append(_summary_table(sections))
    if flow:
        parts.append("<h2>Cascade flow (held-out knees)</h2>" + _flow_table(flow))
    parts += [_image(p) for p in extra_images]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f"<p>{html.escape(section.note)}</p>")
        parts += [_image(p) for p in section.images]
    parts.append("<h2>Model card</h2><pre>" + html.escape(card.to_markdown()) + "</pre>")
    path = _write_page(path, title, parts)
    metrics = {
        "title": title,
        "sections": {section.title: section.evaluation.to_dict() for section in sections},
        "flow": [asdict(f) for f in flow],
        "card_metrics": card.metrics,
    }
    path.with_name("metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return path


def write_curve_report(
    path: Path, title: str, summary: pd.DataFrame, image: Path, note: str, caveat: str = ""
) -> Path:
    """Write the label-efficiency report (the plot, the summary table of
    :func:`~msklabel.clinical.efficiency.summarise_curve`) to ``path``."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if caveat:
        parts.append(f'<div class="caveat"><b>{html.escape(caveat)}</b></div>')
    parts += [f"<p>{html.escape(note)}</p>", _image(image)]
    rows = "".join(
        f"<tr><td>{html.escape(str(r.features))}</td><td>{r.fraction:.0%}</td>"
        f"<td>{r.labelled_knees:.0f}</td><td>{r.auc_mean:.3f}</td><td>{r.auc_sd:.3f}</td>"
        f"<td>{r.repeats}</td></tr>"
        for r in summary.itertuples()
    )
    parts.append(
        "<table><tr><th>features</th><th>labelled subjects</th><th>labelled knees (mean)</th>"
        f"<th>AUC (mean)</th><th>AUC (SD)</th><th>repeats</th></tr>{rows}</table>"
    )
    return _write_page(path, title, parts)


def _write_page(path: Path, title: str, parts: Sequence[str]) -> Path:
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    path = Path(path)
    path.write_text(page)
    return path


def _summary_table(sections: Sequence[ReportSection]) -> str:
    head = "".join(f"<th>{label}</th>" for label in _METRIC_LABELS.values())
    rows = []
    for s in sections:
        e = s.evaluation
        cells = "".join(f"<td>{getattr(e, name)}</td>" for name in _METRIC_LABELS)
        rows.append(
            f"<tr><td>{html.escape(s.title)}</td><td>{e.n}</td><td>{e.events:.0f}</td>"
            f"<td>{e.specificity_target:.0%}</td>{cells}</tr>"
        )
    return (
        "<table><tr><th>model</th><th>knees</th><th>events</th><th>target specificity</th>"
        f"{head}</tr>{''.join(rows)}</table>"
    )


def _flow_table(flow: Sequence[StageFlow]) -> str:
    rows = "".join(
        f"<tr><td>{f.stage}: {html.escape(f.target)}</td><td>{f.n_in}</td><td>{f.n_flagged}</td>"
        f"<td>{f.n_removed}</td><td>{f.positives_in}</td><td>{f.positives_flagged}</td></tr>"
        for f in flow
    )
    return (
        "<table><tr><th>stage</th><th>knees in</th><th>flagged</th><th>not flagged</th>"
        f"<th>positives in</th><th>positives flagged</th></tr>{rows}</table>"
    )


def _image(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'


def metrics_for_card(evaluations: Mapping[str, BinaryEvaluation]) -> dict[str, dict[str, float]]:
    """Card metrics: ``"<model> <metric>" -> {value, low, high}``."""
    return {
        f"{name} {_METRIC_LABELS[metric]}": estimate.to_dict()
        for name, e in evaluations.items()
        for metric, estimate in e.metrics().items()
    }
