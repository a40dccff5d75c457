"""The human-readable report: key slices with the labels, thickness maps, biomarker table."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from msklabel.biomarkers.knee import KneeBiomarkers
from msklabel.labels import CARTILAGE_PLATES, KneeLabel
from msklabel.volume import Volume

_COLORS = ListedColormap(
    ["#00000000", "#e6c229", "#f17105", "#d11149", "#1a8fe3", "#6610f2", "#2ec4b6", "#ff66cc",
     "#8ac926", "#ffca3a", "#8d6e63", "#bdbdbd"]
)  # fmt: skip


#: Labels not overlaid on the images (they would hide them).
_HIDDEN = (0, int(KneeLabel.FAT))


FOOTNOTE = (
    "msklabel: research use. Thickness: mean along the bone normal, mm; "
    "T2: median of the fitted voxels, ms."
)


def key_slices(labels: Volume, count: int = 3) -> list[int]:
    """Up to ``count`` slices that together show every structure, in slice order.

    Each pick is the slice showing the most structures not yet shown (ties: the most cartilage,
    then the most labelled tissue); once every structure is shown, the labelled slice farthest
    from those already picked.
    """
    array = np.asarray(labels.array)
    present = [int(v) for v in np.unique(array) if int(v) not in _HIDDEN]
    if not present:
        return []
    shown = np.stack([(array == value).any(axis=(1, 2)) for value in present])
    cartilage = np.isin(array, [int(p) for p in CARTILAGE_PLATES]).sum(axis=(1, 2))
    tissue = np.isin(array, present).sum(axis=(1, 2))
    labelled = np.flatnonzero(tissue)
    chosen: list[int] = []
    unseen = np.ones(len(present), dtype=bool)
    while len(chosen) < min(count, len(labelled)):
        candidates = [int(k) for k in labelled if k not in chosen]
        gains = {k: int((shown[:, k] & unseen).sum()) for k in candidates}
        if max(gains.values()) > 0:
            pick = max(candidates, key=lambda k: (gains[k], cartilage[k], tissue[k]))
        else:
            pick = max(candidates, key=lambda k: (min(abs(k - c) for c in chosen), tissue[k]))
        chosen.append(pick)
        unseen &= ~shown[:, pick]
    return sorted(chosen)


def render_report(image: Volume, labels: Volume, result: KneeBiomarkers, title: str) -> Figure:
    """A one-page figure (A4 landscape) of ``result`` measured on ``labels`` over ``image``."""
    figure = plt.figure(figsize=(11.69, 8.27), dpi=110)
    figure.suptitle(title, fontsize=13)
    grid = figure.add_gridspec(2, 4, height_ratios=[1, 1])
    row_mm, col_mm = labels.spacing[1], labels.spacing[2]
    for column, index in enumerate(key_slices(labels)[:3]):
        axis = figure.add_subplot(grid[0, column])
        axis.imshow(image.array[index], cmap="gray", aspect=row_mm / col_mm)
        shown = np.asarray(labels.array[index])
        overlay = np.ma.masked_where(np.isin(shown, _HIDDEN), shown)
        axis.imshow(overlay, cmap=_COLORS, vmin=0, vmax=11, alpha=0.5, aspect=row_mm / col_mm)
        axis.set_title(f"slice {index + 1}", fontsize=9)
        axis.set_axis_off()
    _thickness_maps(figure, grid[1, :3], result)
    _table(figure.add_subplot(grid[0, 3]), result)
    _legend(figure.add_subplot(grid[1, 3]))
    figure.text(0.01, 0.01, FOOTNOTE, fontsize=7)
    return figure


def _thickness_maps(figure: Figure, cell, result: KneeBiomarkers) -> None:
    """Each plate's interface points seen along its mean normal, coloured by thickness."""
    plates = [p for p in CARTILAGE_PLATES if p in result.thickness]
    if not plates:
        return
    sub = cell.subgridspec(1, len(plates))
    for i, plate in enumerate(plates):
        measured = result.thickness[plate]
        normal = np.average(measured.normals, axis=0, weights=measured.area)
        normal /= np.linalg.norm(normal)
        helper = np.eye(3)[int(np.argmin(np.abs(normal)))]
        u = np.cross(normal, helper)
        u /= np.linalg.norm(u)
        v = np.cross(normal, u)
        centred = measured.points - measured.points.mean(axis=0)
        axis = figure.add_subplot(sub[0, i])
        dots = axis.scatter(centred @ u, centred @ v, c=measured.thickness, s=2, cmap="viridis",
                            vmin=0, vmax=4)  # fmt: skip
        axis.set_aspect("equal")
        axis.set_title(plate.key.replace("_", " "), fontsize=8)
        axis.tick_params(labelsize=6)
    figure.colorbar(dots, ax=figure.axes[-len(plates) :], fraction=0.03, label="thickness (mm)")


def _table(axis, result: KneeBiomarkers) -> None:
    axis.set_axis_off()
    m = result.measurements
    rows = []
    for label in KneeLabel:
        cells = [label.key.replace("_", " ")]
        for quantity, derivation, fmt in (
            ("volume", None, "{:.0f}"),
            ("thickness", "mean", "{:.2f}"),
            ("t2", "median", "{:.1f}"),
        ):
            try:
                cells.append(fmt.format(m.get(label.key, quantity, derivation)))
            except KeyError:
                cells.append("")
        if any(cells[1:]):
            rows.append(cells)
    table = axis.table(
        cellText=rows,
        colLabels=["structure", "vol. mm³", "thk mm", "T2 ms"],
        bbox=[-0.3, 0.0, 1.38, 1.0],
        colWidths=[0.49, 0.21, 0.15, 0.15],
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1.0, 1.3)


def _legend(axis) -> None:
    axis.set_axis_off()
    shown = [label for label in KneeLabel if label not in _HIDDEN]
    for i, label in enumerate(shown):
        y = 1 - (i + 1) * 0.1
        axis.add_patch(plt.Rectangle((0.3, y), 0.06, 0.07, color=_COLORS(int(label))))
        axis.text(0.39, y + 0.01, label.key.replace("_", " "), fontsize=7)


def figure_bytes(figure: Figure, fmt: str) -> bytes:
    """The figure encoded as ``fmt`` ("png" or "pdf")."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt)
    return buffer.getvalue()


def figure_rgb(figure: Figure) -> np.ndarray:
    """The figure as an 8-bit RGB array (rows, columns, 3)."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
