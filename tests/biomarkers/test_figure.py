"""The report page: a key slice per structure, and panels that never overlap."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest

from msklabel.biomarkers.figure import ModelLine, key_slice, render_report
from msklabel.biomarkers.knee import measure_knee
from msklabel.biomarkers.quality import assess_knee
from msklabel.data.phantom import PhantomConfig, make_phantom
from msklabel.labels import KneeLabel
from msklabel.volume import Volume


def test_key_slice_is_where_the_structure_is_largest() -> None:
    array = np.zeros((6, 8, 8), dtype=np.uint8)
    array[1, 0:2, 0:2] = KneeLabel.PATELLA
    array[4, 0:3, 0:3] = KneeLabel.PATELLA
    labels = Volume(array=array, affine=np.eye(4))
    assert key_slice(labels, KneeLabel.PATELLA) == 4
    assert key_slice(labels, KneeLabel.FEMUR) is None


def _overlaps(figure) -> list[tuple[str, str]]:
    """Pairs of axes whose drawn extents (with titles, ticks and labels) intersect."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    boxes = [(a.get_title() or a.get_label() or str(i), a.get_tightbbox(renderer))
             for i, a in enumerate(figure.axes) if a.get_visible()]  # fmt: skip
    width, height = figure.bbox.width, figure.bbox.height
    found = []
    for _, box in boxes:
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= width + 1 and box.y1 <= height + 1
    for (name_a, a), (name_b, b) in itertools.combinations(boxes, 2):
        if a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1:
            found.append((name_a, name_b))
    return found


@pytest.mark.slow
def test_the_report_page_panels_do_not_overlap_and_show_models_and_verdicts() -> None:
    phantom = make_phantom(PhantomConfig(orientation="sagittal", spacing=(3.0, 1.0, 1.0),
                                         fov_mm=140))  # fmt: skip
    array = np.asarray(phantom.labels.array).copy()
    array[array == KneeLabel.MEDIAL_TIBIAL_CARTILAGE] = 0  # a failed (empty) plate
    labels = phantom.labels.with_array(array)
    result = measure_knee(labels, echoes=phantom.echoes)
    quality = assess_knee(labels, result, echoes=phantom.echoes)
    models = [ModelLine("Stage A: any abnormality [triage-demo 1]", "p = 0.20: not flagged", True)]
    figure = render_report(phantom.echoes[0], labels, result, "phantom", quality=quality,
                           models=models)  # fmt: skip
    try:
        assert _overlaps(figure) == []
        texts = " ".join(t.get_text() for a in figure.axes for t in a.texts)
        assert "not for clinical use" in texts.lower()
        assert "medial tibial cart.: not measured" in " ".join(a.get_title() for a in
                                                               figure.axes) + texts  # fmt: skip
        assert "FAIL" in texts and "PASS" in texts
        cells = [c.get_text().get_text() for a in figure.axes for t in a.tables
                 for c in t.get_celld().values()]  # fmt: skip
        used, mask = (result.measurements.get("femoral_cartilage", q, "count")
                      for q in ("t2_voxels", "voxels"))  # fmt: skip
        assert any(cell.endswith(f"  n = {used:.0f} / {mask:.0f}") for cell in cells)
    finally:
        plt.close(figure)
