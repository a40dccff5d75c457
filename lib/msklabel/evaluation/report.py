"""The HTML report of an evaluation: tables overall and per stratum, flags, and plots (Dice
per structure and configuration, a forest plot of Dice per stratum, Bland-Altman per
biomarker)."""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

_STYLE = """
body { font-family: sans-serif; max-width: 70em; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
td, th { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: right; }
td:nth-child(-n+4), th:nth-child(-n+4) { text-align: left; }
.flag { background: #fde2e1; border: 1px solid #d33; padding: 0.5em 1em; margin: 0.5em 0; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
"""


def write_report(
    out: Path, cases: pd.DataFrame, biomarkers: pd.DataFrame, summary: dict[str, Any]
) -> Path:
    """Write ``report.html`` (plots embedded, and as PNG files in ``out/plots``) into
    ``out``."""
    run = summary.get("run", {})
    parts = [
        "<h1>msklabel evaluation</h1>",
        f"<p>Plan {_text(run.get('plan'))}: {cases['case'].nunique()} cases "
        f"({run.get('computed', 0)} results computed, {run.get('reused', 0)} from the cache). "
        "Means with 95 % Student-t intervals; agreement of biomarkers on predicted vs "
        "reference masks.</p>",
    ]
    parts += [f'<div class="flag">failed: {_text(error)}</div>' for error in run.get("errors", [])]
    segmentation = summary["segmentation"]
    flags = summary["flags"]
    parts.append("<h2>Strata that differ</h2>")
    parts += [
        f'<div class="flag">{_text(f["model"])} {_text(f["prompt"])}, {_text(f["structure"])}: '
        f"{f['metric']} differs between {_text(f['stratum'])} = {_text(f['levels'][0])} "
        f"({f['means'][0]:.3f}) and {_text(f['levels'][1])} ({f['means'][1]:.3f}); "
        "their 95 % CIs do not overlap</div>"
        for f in flags
    ] or ["<p>No model's Dice or surface Dice differs between strata beyond its CI.</p>"]
    parts.append("<h2>Segmentation, all cases</h2>")
    parts.append(_segmentation_table([e for e in segmentation if e["stratum"] == "all"]))
    plots = Path(out) / "plots"
    parts.append(_image(_dice_figure(cases), plots / "dice.png"))
    for stratum in dict.fromkeys(e["stratum"] for e in segmentation if e["stratum"] != "all"):
        entries = [e for e in segmentation if e["stratum"] == stratum]
        if len({e["level"] for e in entries}) > 1:
            parts.append(f"<h2>Segmentation per {_text(stratum)}</h2>")
            parts.append(_segmentation_table(entries, level=True))
            figure = _forest_figure(entries, stratum, flags)
            parts.append(_image(figure, plots / f"forest-{_file_name(stratum)}.png"))
    agreement = [e for e in summary["biomarkers"] if e["stratum"] == "all"]
    if agreement:
        parts.append("<h2>Biomarker agreement, all cases</h2>" + _agreement_table(agreement))
        parts += [
            _image(figure, plots / f"bland-altman-{_file_name(name)}.png")
            for name, figure in _bland_altman_figures(biomarkers)
        ]
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>msklabel evaluation</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    path = Path(out) / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _segmentation_table(entries: Sequence[dict[str, Any]], level: bool = False) -> str:
    head = "<tr><th>model</th><th>prompt</th><th>structure</th>"
    head += "<th>level</th>" if level else ""
    head += "<th>n</th><th>Dice</th><th>surface Dice</th><th>HD95 mm</th><th>s / case</th></tr>"
    rows = []
    for e in entries:
        cells = [e["model"], e["prompt"], e["structure"], *([e["level"]] if level else [])]
        rows.append(
            "<tr>" + "".join(f"<td>{_text(c)}</td>" for c in cells) + f"<td>{e['n']}</td>"
            + "".join(f"<td>{_estimate(e[m])}</td>" for m in ("dice", "surface_dice", "hd95_mm"))
            + f"<td>{e['seconds']['value']:.2f}</td></tr>"
        )  # fmt: skip
    return f"<table>{head}{''.join(rows)}</table>"


def _agreement_table(entries: Sequence[dict[str, Any]]) -> str:
    head = (
        "<tr><th>model</th><th>prompt</th><th>structure</th><th>biomarker</th><th>n</th>"
        "<th>bias [95 % LoA]</th><th>ICC(2,1) [95 % CI]</th><th>ICC(3,1) [95 % CI]</th>"
        "<th>CCC</th></tr>"
    )
    rows = []
    for e in entries:
        name = " ".join(_text(e[k]) for k in ("quantity", "derivation", "region") if _known(e[k]))
        ba = e.get("bland_altman")
        bias = f"{ba['bias']:.3g} [{ba['lower']:.3g}, {ba['upper']:.3g}]" if ba else ""
        iccs = [_estimate(e[k]) if k in e else "" for k in ("icc2_1", "icc3_1")]
        ccc = f"{e['ccc']:.3f}" if "ccc" in e else ""
        rows.append(
            f"<tr><td>{_text(e['model'])}</td><td>{_text(e['prompt'])}</td>"
            f"<td>{_text(e['structure'])}</td><td>{name}</td><td>{e['n']}</td><td>{bias}</td>"
            f"<td>{iccs[0]}</td><td>{iccs[1]}</td><td>{ccc}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _dice_figure(cases: pd.DataFrame):
    """Dice per case: one panel per structure, one box per model and prompt mode."""
    import matplotlib.pyplot as plt

    done = cases[cases["error"].isna()]
    structures = list(dict.fromkeys(done["structure"]))
    figure, axes = plt.subplots(
        1, max(len(structures), 1), figsize=(3.2 * max(len(structures), 1), 3.4), squeeze=False
    )
    for axis, structure in zip(axes[0], structures, strict=False):
        rows = done[done["structure"] == structure]
        groups = list(rows.groupby(["model", "prompt"], sort=True))
        axis.boxplot([g["dice"].dropna() for _, g in groups], showfliers=False)
        for i, (_, group) in enumerate(groups, start=1):
            axis.plot([i] * len(group), group["dice"], "o", ms=3, alpha=0.6)
        axis.set_xticks(range(1, len(groups) + 1), [f"{m}\n{p}" for (m, p), _ in groups],
                        fontsize=7)  # fmt: skip
        axis.set_title(structure, fontsize=9)
        axis.set_ylim(0, 1.02)
    axes[0][0].set_ylabel("Dice")
    figure.tight_layout()
    return figure


def _forest_figure(entries: Sequence[dict[str, Any]], stratum: str, flags: Sequence[dict]):
    """Mean Dice with its 95 % CI per level of ``stratum``: one row per model, prompt mode,
    structure and level; a configuration flagged for this stratum is marked."""
    import matplotlib.pyplot as plt

    flagged = {(f["model"], f["prompt"], f["structure"]) for f in flags
               if f["stratum"] == stratum and f["metric"] == "dice"}  # fmt: skip
    levels = sorted({str(e["level"]) for e in entries})
    colours = {level: f"C{i % 10}" for i, level in enumerate(levels)}
    rows = sorted(entries, key=lambda e: (e["model"], e["prompt"], e["structure"], str(e["level"])))
    figure, axis = plt.subplots(figsize=(7.5, 1.2 + 0.22 * len(rows)))
    labels = []
    for y, e in enumerate(reversed(rows)):
        d = e["dice"]
        if _known(d["low"]):
            axis.plot([d["low"], d["high"]], [y, y], color=colours[str(e["level"])], lw=1.5)
        axis.plot(d["value"], y, "o", color=colours[str(e["level"])], ms=4)
        mark = " *" if (e["model"], e["prompt"], e["structure"]) in flagged else ""
        labels.append(f"{e['model']} {e['prompt']} {e['structure']}{mark}")
    axis.set_yticks(range(len(rows)), labels, fontsize=7)
    axis.set_xlim(0, 1)
    axis.set_xlabel("Dice (mean, 95 % CI)")
    axis.set_title(f"Dice per {stratum} (* differs beyond its CI)", fontsize=9)
    handles = [plt.Line2D([], [], color=colours[v], marker="o", label=v) for v in levels]
    axis.legend(handles=handles, fontsize=7, title=stratum, title_fontsize=7,
                loc="center left", bbox_to_anchor=(1.01, 0.5))  # fmt: skip
    figure.tight_layout()
    return figure


def _bland_altman_figures(biomarkers: pd.DataFrame) -> list[tuple[str, Any]]:
    """One Bland-Altman plot per whole-structure biomarker (no region), all configurations,
    with its name."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    whole = biomarkers[biomarkers["region"].isna()].dropna(subset=["predicted", "reference"])
    figures = []
    for (structure, quantity, derivation), rows in whole.groupby(
        ["structure", "quantity", "derivation"], dropna=False, sort=True
    ):
        figure, axis = plt.subplots(figsize=(5, 3.4))
        for (model, prompt), group in rows.groupby(["model", "prompt"], sort=True):
            mean = (group["predicted"] + group["reference"]) / 2
            difference = group["predicted"] - group["reference"]
            (points,) = axis.plot(mean, difference, "o", ms=4, label=f"{model} {prompt}")
            if len(group) >= 2:
                bias, sd = difference.mean(), difference.std(ddof=1)
                for value, style in ((bias, "-"), (bias - 1.96 * sd, ":"), (bias + 1.96 * sd, ":")):
                    axis.axhline(value, color=points.get_color(), ls=style, lw=1)
        axis.axhline(0, color="black", lw=0.5)
        label = " ".join(str(v) for v in (structure, quantity, derivation) if _known(v))
        axis.set_title(f"Bland-Altman: {label}", fontsize=9)
        axis.set_xlabel("mean of predicted and reference")
        axis.xaxis.set_major_locator(MaxNLocator(5))
        axis.set_ylabel("predicted - reference")
        axis.legend(fontsize=7)
        figure.tight_layout()
        figures.append((label, figure))
    return figures


def _image(figure, path: Path) -> str:
    """``figure`` saved as the PNG ``path`` and embedded in the page."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{_text(path.stem)}" src="data:image/png;base64,{data}">'


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)


def _estimate(e: dict[str, float]) -> str:
    if not _known(e["value"]):
        return ""
    interval = f" [{e['low']:.3f}, {e['high']:.3f}]" if _known(e["low"]) else ""
    return f"{e['value']:.3f}{interval}"


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and value != value)


def _text(value: Any) -> str:
    return html.escape(str(value))
