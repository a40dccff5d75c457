"""PNG plots of held-out predictions: ROC, calibration, decision curve, cascade flow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from .evaluation import BinaryEvaluation
from .triage import StageFlow

#: (y, p, weight or None) for one curve.
Curve = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _figure(title: str, subtitle: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=110)
    ax.set_title(title, fontsize=11)
    fig.text(0.5, 0.005, subtitle, ha="center", va="bottom", fontsize=7, color="0.35", wrap=True)
    return fig, ax


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def roc_plot(curves: Mapping[str, Curve], path: Path, title: str, subtitle: str = "") -> Path:
    """ROC curves of several probabilities (e.g. model and oracle) on the same knees."""
    from .metrics import auc

    fig, ax = _figure(title, subtitle)
    for name, (y, p, w) in curves.items():
        fpr, tpr, _ = roc_curve(y, p, sample_weight=w)
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc(y, p, w):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="0.5", label="chance")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def label_efficiency_plot(
    summary: pd.DataFrame, path: Path, title: str, subtitle: str = ""
) -> Path:
    """Mean held-out AUC (error bars: SD over repeats) against the labelled fraction, one
    line per feature set (:func:`~msklabel.clinical.efficiency.summarise_curve`)."""
    fig, ax = _figure(title, subtitle)
    for name, rows in summary.groupby("features", sort=False):
        ax.errorbar(
            100 * rows["fraction"], rows["auc_mean"], yerr=rows["auc_sd"].fillna(0.0),
            marker="o", capsize=3, label=str(name),
        )  # fmt: skip
    ax.axhline(0.5, ls=":", color="0.5", label="chance")
    ax.set_xscale("log")
    ticks = sorted(set(100 * summary["fraction"]))
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set(xlabel="labelled subjects (% of the training folds)", ylabel="held-out AUC")
    ax.set_ylim(0.4, 1.0)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def calibration_plot(
    y: np.ndarray,
    p: np.ndarray,
    path: Path,
    title: str,
    weight: np.ndarray | None = None,
    n_bins: int = 10,
    subtitle: str = "",
) -> Path:
    """Observed against predicted risk in quantile bins of the prediction."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, float)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    predicted = [np.average(p[bins == b], weights=w[bins == b]) for b in np.unique(bins)]
    observed = [np.average(y[bins == b], weights=w[bins == b]) for b in np.unique(bins)]
    fig, ax = _figure(title, subtitle)
    top = max(max(predicted), max(observed)) * 1.1
    ax.plot([0, top], [0, top], ls=":", color="0.5", label="ideal")
    ax.plot(predicted, observed, "o-", label="model (quantile bins)")
    ax.set(
        xlabel="predicted probability", ylabel="observed frequency", xlim=(0, top), ylim=(0, top)
    )
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def decision_curve_plot(
    evaluation: BinaryEvaluation, path: Path, title: str, subtitle: str = ""
) -> Path:
    """Net benefit of the model against treat-all and treat-none over thresholds."""
    t = np.asarray(evaluation.decision_thresholds)
    model, treat_all = (
        np.asarray(evaluation.net_benefit),
        np.asarray(evaluation.net_benefit_treat_all),
    )
    fig, ax = _figure(title, subtitle)
    ax.plot(t * 100, model, label="model")
    ax.plot(t * 100, treat_all, label="treat all")
    ax.axhline(0, color="0.3", lw=1, label="treat none")
    top = max(model.max(), treat_all.max(), 0.01)
    ax.set(xlabel="threshold probability (%)", ylabel="net benefit", ylim=(-0.1 * top, top * 1.1))
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def cascade_flow_plot(
    flow: Sequence[StageFlow], path: Path, title: str, subtitle: str = ""
) -> Path:
    """Boxes per stage: knees in, flagged (with true positives) and removed."""
    fig, ax = _figure(title, subtitle)
    fig.set_size_inches(8, 5.5)
    ax.set_axis_off()
    ax.set(xlim=(0, 1), ylim=(0, 1))
    stage_c = [f for f in flow if f.stage == "C"]
    rows = [f for f in flow if f.stage in ("A", "B")]
    for i, f in enumerate(rows):
        y = 0.85 - 0.3 * i
        ax.text(
            0.3,
            y,
            _box_text(f),
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round", "fc": "#dce9f7"},
        )
        ax.text(
            0.78,
            y,
            f"not flagged: {f.n_removed}\n(true positives missed: "
            f"{f.positives_in - f.positives_flagged})",
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round", "fc": "#eeeeee"},
        )
        ax.annotate("", (0.62, y), (0.47, y), arrowprops={"arrowstyle": "->"})
        ax.annotate("", (0.3, y - 0.2), (0.3, y - 0.09), arrowprops={"arrowstyle": "->"})
    for j, f in enumerate(stage_c):
        ax.text(
            0.09 + j * 0.165,
            0.2,
            _box_text(f, short=True),
            ha="center",
            va="center",
            fontsize=7,
            bbox={"boxstyle": "round", "fc": "#e6f4e1"},
        )
    return _save(fig, path)


def _box_text(f: StageFlow, short: bool = False) -> str:
    if short:
        tp = f"{f.positives_flagged}/{f.positives_in}"
        return f"C: {f.target}\nin {f.n_in}\nflagged {f.n_flagged}\nTP {tp}"
    return (
        f"Stage {f.stage}: {f.target.replace('_', ' ')}\nknees in: {f.n_in} "
        f"(positive {f.positives_in})\nflagged: {f.n_flagged} "
        f"(true positives {f.positives_flagged})"
    )
