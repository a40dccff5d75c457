"""The human-readable report page (A4 landscape).

Top: one key slice per structure (the slice where it is largest, zoomed on it, outlined),
titled with its quality verdict. Middle: cartilage thickness maps in anatomical orientation,
drawn as images on a 1 mm grid (femoral plate unrolled about the medial-lateral axis as
DOSMA and pyMSKT do; both tibial plates seen from above; the patellar plate seen from
the front) with one colour bar in mm; beside them the clinical models' results, a
demonstration model's marked "not for clinical use". Bottom: the values with their
reference ranges and verdicts (a failed structure's values are withheld), and the gate's
findings. Every panel has its own cell of one grid, so none overlaps another.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from scipy import ndimage

from msklabel.biomarkers.knee import KneeBiomarkers
from msklabel.biomarkers.measurement import Measurements
from msklabel.biomarkers.quality import QualityReport, Verdict
from msklabel.biomarkers.references import reference
from msklabel.biomarkers.regions import KneeFrame
from msklabel.labels import BONES, CARTILAGE_PLATES, MENISCI, KneeLabel
from msklabel.volume import Volume

_COLORS = ListedColormap(
    ["#00000000", "#e6c229", "#f17105", "#d11149", "#1a8fe3", "#6610f2", "#2ec4b6", "#ff66cc",
     "#8ac926", "#ffca3a", "#8d6e63", "#bdbdbd"]
)  # fmt: skip
VERDICT_COLORS = {Verdict.PASS: "#1b7f3b", Verdict.DOUBTFUL: "#b36b00", Verdict.FAIL: "#c62828"}
#: Structures with a key slice on the page, in this order.
KEY_STRUCTURES = (*BONES, *CARTILAGE_PLATES, *MENISCI)
#: Thickness colour scale (mm).
THICKNESS_RANGE_MM = (0.0, 5.0)
#: Grid of the thickness maps (mm) and how far a map is filled between samples (mm).
MAP_CELL_MM = 1.0
MAP_FILL_MM = 2.5
FOOTNOTE = (
    "msklabel: research use, not for clinical use. Thickness: mean along the bone normal; T2: "
    "median of the fitted voxels. Ranges: healthy knees (docs/quality.md). A failed structure's "
    "values are withheld here, in the SR and in biomarkers.json rows."
)


@dataclass(frozen=True)
class ModelLine:
    """One clinical model result as the page shows it."""

    title: str
    value: str
    demonstration: bool


def key_slice(labels: Volume, label: int) -> int | None:
    """The slice (first array axis) where ``label`` covers the most voxels; None if absent."""
    counts = (np.asarray(labels.array) == label).sum(axis=(1, 2))
    return int(np.argmax(counts)) if counts.any() else None


def render_report(
    image: Volume,
    labels: Volume,
    result: KneeBiomarkers,
    title: str,
    *,
    quality: QualityReport | None = None,
    models: Sequence[ModelLine] = (),
    models_not_run: Sequence[str] = (),
) -> Figure:
    """The report page of ``result`` measured on ``labels`` over ``image``."""
    figure = plt.figure(figsize=(11.69, 8.27), dpi=110)
    figure.text(0.012, 0.975, title, fontsize=13, weight="bold", va="top")
    figure.text(0.012, 0.945, _subtitle(image, quality), fontsize=8, va="top")
    grid = figure.add_gridspec(
        2, 1, left=0.05, right=0.985, top=0.885, bottom=0.045, height_ratios=[0.75, 2.45],
        hspace=0.2,
    )  # fmt: skip
    _key_slices(figure, grid[0], image, labels, quality)
    lower = grid[1].subgridspec(1, 2, width_ratios=[1.75, 1.0], wspace=0.1)
    left = lower[0].subgridspec(2, 1, height_ratios=[1.0, 1.3], hspace=0.28)
    _thickness_maps(figure, left[0], result, quality)
    _table(figure.add_subplot(left[1]), result, quality)
    side = figure.add_subplot(lower[1])
    side.set_axis_off()
    _write_lines(side, [*_models(models, models_not_run), ("", {}), *_findings(quality)], 6.2)
    figure.text(0.012, 0.012, FOOTNOTE, fontsize=6.5, va="bottom")
    return figure


def _subtitle(image: Volume, quality: QualityReport | None) -> str:
    parts = [f"series {image.series_description or image.series_instance_uid or '(unnamed)'}"]
    if quality is not None:
        counts = ", ".join(
            f"{len(quality.with_verdict(v))} {v.value}" for v in Verdict if quality.with_verdict(v)
        )
        parts.append(
            f"field strength {quality.field_strength_t:g} T ({quality.field_strength_source})"
        )
        parts.append(f"quality gate: {counts} (limits: {quality.rules})")
    return "   |   ".join(parts)


def _verdict(quality: QualityReport | None, key: str) -> Verdict | None:
    return quality.verdict(key) if quality is not None else None


def _name(label: KneeLabel) -> str:
    return label.key.replace("_", " ").replace(" cartilage", " cart.").replace("meniscus", "men.")


def _key_slices(figure: Figure, cell, image: Volume, labels: Volume, quality) -> None:
    shown = [label for label in KEY_STRUCTURES if key_slice(labels, label) is not None]
    if not shown:
        return
    sub = cell.subgridspec(1, len(KEY_STRUCTURES), wspace=0.06)
    array = np.asarray(labels.array)
    low, high = np.percentile(image.array, (0.5, 99.5))
    row_mm, col_mm = labels.spacing[1], labels.spacing[2]
    for i, label in enumerate(shown):
        index = key_slice(labels, label)
        mask = array[index] == label
        r0, r1, c0, c1 = _square_crop(mask, row_mm, col_mm, margin_mm=10.0)
        axis = figure.add_subplot(sub[0, i])
        axis.imshow(image.array[index][r0:r1, c0:c1], cmap="gray", vmin=low, vmax=high,
                    aspect=row_mm / col_mm, interpolation="bilinear")  # fmt: skip
        crop = mask[r0:r1, c0:c1]
        axis.imshow(np.ma.masked_where(~crop, crop * int(label)), cmap=_COLORS, vmin=0, vmax=11,
                    alpha=0.35, aspect=row_mm / col_mm, interpolation="nearest")  # fmt: skip
        axis.contour(crop, levels=[0.5], colors=[_COLORS(int(label))], linewidths=0.9)
        verdict = _verdict(quality, label.key)
        axis.set_title(f"{_name(label)}\nslice {index + 1}", fontsize=7, pad=2)
        if verdict is not None:
            axis.text(0.5, 0.02, verdict.value.upper(), transform=axis.transAxes, fontsize=7,
                      ha="center", va="bottom", color="white", weight="bold",
                      bbox={"facecolor": VERDICT_COLORS[verdict], "pad": 1.5, "lw": 0})  # fmt: skip
        axis.set_xticks([])
        axis.set_yticks([])


def _square_crop(
    mask: np.ndarray, row_mm: float, col_mm: float, margin_mm: float
) -> tuple[int, int, int, int]:
    """Row and column bounds of a square (in mm) around ``mask`` with ``margin_mm``, so that
    every key slice has the same shape on the page."""
    rows, cols = np.nonzero(mask)
    side = max((rows.ptp() + 1) * row_mm, (cols.ptp() + 1) * col_mm) + 2 * margin_mm
    bounds = []
    for found, size, length in ((rows, row_mm, mask.shape[0]), (cols, col_mm, mask.shape[1])):
        half = round(side / size / 2)
        centre = round((found.min() + found.max()) / 2)
        low = min(max(centre - half, 0), max(length - 2 * half, 0))
        bounds += [low, min(low + 2 * half, length)]
    return bounds[0], bounds[1], bounds[2], bounds[3]


def _thickness_maps(figure: Figure, cell, result: KneeBiomarkers, quality) -> None:
    """Femur unrolled, tibia from above, patella from the front; one colour bar."""
    frame = result.frame or _default_frame()
    panels = (
        ("femoral cartilage, unrolled", (KneeLabel.FEMORAL_CARTILAGE,), _unrolled),
        ("tibial cartilage, axial (from above)",
         (KneeLabel.MEDIAL_TIBIAL_CARTILAGE, KneeLabel.LATERAL_TIBIAL_CARTILAGE), _axial),
        ("patellar cartilage, coronal (from front)", (KneeLabel.PATELLAR_CARTILAGE,), _coronal),
    )  # fmt: skip
    sub = cell.subgridspec(1, 4, width_ratios=[1, 1, 1, 0.06], wspace=0.42)
    image = None
    for i, (title, plates, project) in enumerate(panels):
        axis = figure.add_subplot(sub[0, i])
        axis.tick_params(labelsize=6)
        drawn = [p for p in plates if p in result.thickness and _verdict(quality, p.key)
                 != Verdict.FAIL]  # fmt: skip
        notes = [
            f"{_name(p)}: withheld (quality: fail)" if p in result.thickness else
            f"{_name(p)}: not measured" for p in plates if p not in drawn
        ]  # fmt: skip
        notes += [f"{_name(p)}: doubtful" for p in drawn
                  if _verdict(quality, p.key) == Verdict.DOUBTFUL]  # fmt: skip
        if drawn:
            points = np.concatenate([result.thickness[p].points for p in drawn])
            values = np.concatenate([result.thickness[p].thickness for p in drawn])
            (x, y), labels = project(points, frame)
            image = _draw_map(axis, x, y, values)
            axis.set_xlabel(labels[0], fontsize=6.5, labelpad=1)
            axis.set_ylabel(labels[1], fontsize=6.5, labelpad=1)
        else:
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_facecolor("#f2f2f2")
        if drawn:
            axis.set_title("\n".join([title, *notes]), fontsize=7.5, pad=3)
        else:
            axis.set_title(title, fontsize=7.5, pad=3)
            axis.text(0.5, 0.5, "\n".join(n.replace(": ", ":\n") for n in notes), ha="center",
                      va="center", fontsize=6.5,
                      transform=axis.transAxes, color=VERDICT_COLORS[Verdict.FAIL])  # fmt: skip
    colour_axis = figure.add_subplot(sub[0, 3])
    if image is None:
        colour_axis.set_axis_off()
        return
    bar = figure.colorbar(image, cax=colour_axis)
    bar.set_label("thickness (mm)", fontsize=7)
    bar.ax.tick_params(labelsize=6)


def _default_frame() -> KneeFrame:
    """Patient axes when the knee's medial side is unknown (no tibial plates)."""
    return KneeFrame(np.array([1.0, 0, 0]), np.array([0, -1.0, 0]), np.array([0, 0, 1.0]),
                     np.zeros(3))  # fmt: skip


def _axial(points: np.ndarray, frame: KneeFrame):
    centred = points - points.mean(axis=0)
    return (centred @ frame.medial, centred @ frame.anterior), (
        "lateral  <-  mm  ->  medial", "posterior  <-  mm  ->  anterior")  # fmt: skip


def _coronal(points: np.ndarray, frame: KneeFrame):
    centred = points - points.mean(axis=0)
    return (centred @ frame.medial, centred @ frame.superior), (
        "lateral  <-  mm  ->  medial", "inferior  <-  mm  ->  superior")  # fmt: skip


def _unrolled(points: np.ndarray, frame: KneeFrame):
    """Arc length about the medial-lateral axis through the centre of a circle fitted to the
    plate in the sagittal plane: 0 at the distal pole, positive towards the trochlea."""
    a, s = points @ frame.anterior, points @ frame.superior
    design = np.column_stack([2 * a, 2 * s, np.ones_like(a)])
    (ca, cs, c), *_ = np.linalg.lstsq(design, a**2 + s**2, rcond=None)
    radius = float(np.sqrt(max(c + ca**2 + cs**2, 1e-6)))
    angle = np.arctan2(a - ca, -(s - cs))
    medial = points @ frame.medial
    return (medial - medial.mean(), angle * radius), (
        "lateral  <-  mm  ->  medial", "posterior  <-  arc mm  ->  trochlea")  # fmt: skip


def _draw_map(axis, x: np.ndarray, y: np.ndarray, values: np.ndarray):
    """Mean thickness per 1 mm cell, filled up to ``MAP_FILL_MM`` from a sample."""
    cell = MAP_CELL_MM
    ix, iy = np.floor((x - x.min()) / cell).astype(int), np.floor((y - y.min()) / cell).astype(int)
    shape = (iy.max() + 1, ix.max() + 1)
    flat = iy * shape[1] + ix
    sums = np.bincount(flat, values, shape[0] * shape[1]).reshape(shape)
    counts = np.bincount(flat, None, shape[0] * shape[1]).reshape(shape)
    grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    empty = np.isnan(grid)
    distance, (near_r, near_c) = ndimage.distance_transform_edt(empty, return_indices=True)
    filled = grid[near_r, near_c]
    filled[distance * cell > MAP_FILL_MM] = np.nan
    extent = (x.min(), x.min() + shape[1] * cell, y.min(), y.min() + shape[0] * cell)
    shown = axis.imshow(np.ma.masked_invalid(filled), origin="lower", extent=extent,
                        cmap="viridis", vmin=THICKNESS_RANGE_MM[0], vmax=THICKNESS_RANGE_MM[1],
                        interpolation="nearest")  # fmt: skip
    axis.set_aspect("equal")
    axis.set_facecolor("#f2f2f2")
    return shown


_HEADING = {"weight": "bold", "fontsize": 8}
_WIDTH = 78  # characters of a side-panel line


def _models(models: Sequence[ModelLine], not_run: Sequence[str]) -> list[tuple[str, dict]]:
    """Side-panel lines: each model's result (a demonstration's marked), or why none ran."""
    lines: list[tuple[str, dict]] = [("Clinical models", _HEADING)]
    warning = {"color": VERDICT_COLORS[Verdict.FAIL], "weight": "bold"}
    if models:
        if any(m.demonstration for m in models):
            lines += [
                (text, warning)
                for text in textwrap.wrap(
                    "NOT FOR CLINICAL USE: demonstration models trained on synthetic data", _WIDTH
                )
            ]
        for model in models:
            lines += [(text, {}) for text in textwrap.wrap(model.title, _WIDTH)]
            lines.append(("    " + model.value, {"weight": "bold"}))
            if model.demonstration:
                lines.append(("    demonstration model: not for clinical use", warning))
    elif not_run:
        lines.append(("Triage and risk models not run:", {"weight": "bold"}))
        for reason in not_run:
            lines += [(text, {}) for text in textwrap.wrap(reason, _WIDTH, initial_indent="- ",
                                                           subsequent_indent="  ")]  # fmt: skip
    else:
        lines.append(("No clinical model was run for this study.", {}))
    return lines


def _write_lines(axis, lines: list[tuple[str, dict]], size: float) -> None:
    """Lines from the top of ``axis``; those that do not fit end with a pointer to the JSON."""
    height = axis.get_position().height * axis.figure.get_figheight() * 72  # points
    fits = max(int(height / (size * 1.4)), 1)
    if len(lines) > fits:
        lines = [*lines[: fits - 1], ("... (the rest: biomarkers.json / clinical.json)", {})]
    for i, (text, style) in enumerate(lines):
        axis.text(0.0, 1 - i / fits, text, transform=axis.transAxes, va="top",
                  **{"fontsize": size, **style})  # fmt: skip


def _table(axis, result: KneeBiomarkers, quality: QualityReport | None) -> None:
    axis.set_axis_off()
    m = result.measurements
    rows, colours = [], []
    for label in KneeLabel:
        verdict = _verdict(quality, label.key)
        cells = [label.key.replace("_", " "), verdict.value if verdict else ""]
        for quantity, derivation, fmt in (
            ("volume", None, "{:.0f}"),
            ("thickness", "mean", "{:.2f}"),
            ("t2", "median", "{:.1f}"),
        ):
            try:
                value = fmt.format(m.get(label.key, quantity, derivation))
            except KeyError:
                cells.append("")
                continue
            found = reference(label, quantity, derivation)
            ref = f"  [{found.text()}]" if found else ""
            counted = _voxels(m, label.key) if quantity == "t2" else ""
            cells.append("withheld" if verdict == Verdict.FAIL else value + ref + counted)
        if any(cells[2:]):
            rows.append(cells)
            colours.append(VERDICT_COLORS.get(verdict, "black") if verdict else "black")
    if not rows:
        return
    table = axis.table(
        cellText=rows,
        colLabels=["structure", "quality", "volume mm³ [ref]", "thickness mm [ref]",
                   "T2 ms [ref]  n = voxels used / mask"],
        bbox=[0.0, 0.0, 1.0, 1.0],
        colWidths=[0.2, 0.1, 0.17, 0.17, 0.36],
        cellLoc="left",
    )  # fmt: skip
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    for (row, column), cell in table.get_celld().items():
        cell.set_linewidth(0.3)
        if row == 0:
            cell.set_text_props(weight="bold")
        elif column == 1:
            cell.set_text_props(color=colours[row - 1], weight="bold")


def _voxels(measurements: Measurements, key: str) -> str:
    """ "  n = used / mask": the voxels a structure's T2 values stand on and those of its
    mask; empty where not counted."""
    try:
        used = measurements.get(key, "t2_voxels", "count")
        mask = measurements.get(key, "voxels", "count")
    except KeyError:
        return ""
    return f"  n = {used:.0f} / {mask:.0f}"


def _findings(quality: QualityReport | None) -> list[tuple[str, dict]]:
    """Side-panel lines: every structure not passed, with its reasons (failing ones first)."""
    lines: list[tuple[str, dict]] = [("Quality gate findings", _HEADING)]
    if quality is None:
        return [*lines, ("No quality assessment.", {})]
    for key, assessed in quality.structures.items():
        if assessed.verdict == Verdict.PASS:
            continue
        lines.append((f"{key.replace('_', ' ')}: {assessed.verdict.value.upper()}",
                      {"color": VERDICT_COLORS[assessed.verdict], "weight": "bold"}))  # fmt: skip
        for reason in assessed.reasons:
            lines += [(text, {}) for text in textwrap.wrap(
                reason.message, _WIDTH, initial_indent="- ", subsequent_indent="  ")]  # fmt: skip
    if len(lines) == 1:
        lines.append(("Every structure passed.", {"color": VERDICT_COLORS[Verdict.PASS]}))
    return lines


def figure_bytes(figure: Figure, fmt: str) -> bytes:
    """The figure encoded as ``fmt`` ("png" or "pdf")."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt)
    return buffer.getvalue()


def figure_rgb(figure: Figure) -> np.ndarray:
    """The figure as an 8-bit RGB array (rows, columns, 3)."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
