"""Issue 21's acceptance criteria for cartilage plates and menisci on a real knee, as one
reusable check (:func:`plausibility_violations`): what a structure must satisfy before its
numbers can be believed. Fixed, unlike the quality gate's site limits
(:mod:`msklabel.biomarkers.quality`), so that segmentation work is judged the same way
everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from msklabel.biomarkers.knee import KneeBiomarkers
from msklabel.biomarkers.masks import MaskFigures, t2_figures
from msklabel.labels import CARTILAGE_PLATES, MENISCI, KneeLabel
from msklabel.volume import Volume


@dataclass(frozen=True)
class Criteria:
    """The criteria's figures (issue 21's "Done when")."""

    near_bone_mm: float = 4.0
    min_near_bone_share: float = 0.9  #: of a plate's voxels within near_bone_mm of its bone
    cartilage_t2_ms: tuple[float, float] = (20.0, 65.0)  #: median
    meniscus_max_t2_ms: float = 35.0
    thickness_mean_mm: tuple[float, float] = (1.0, 3.8)
    max_rectangularity: float = 0.85  #: above this a slice's mask fills its box: box-shaped


CRITERIA = Criteria()


def plausibility_violations(
    labels: Volume,
    result: KneeBiomarkers,
    echoes: Sequence[Volume] = (),
    *,
    criteria: Criteria = CRITERIA,
    structures: Iterable[int] = (*CARTILAGE_PLATES, *MENISCI),
) -> dict[str, list[str]]:
    """Each of ``structures`` (label values) that breaks :class:`Criteria`, with what it
    breaks: empty, box-shaped, voxels inside a bone, too few near its bone, mean thickness
    (from ``result``, :func:`~msklabel.biomarkers.knee.measure_knee` of ``labels``) or median
    T2 (fitted here from ``echoes`` by :func:`~msklabel.biomarkers.t2.fit_t2`) out of
    range. A structure absent from the answer satisfies every criterion."""
    figures = MaskFigures(labels, criteria.near_bone_mm, between_bones_mm=20.0)
    medians = (
        {k: v.median_ms for k, v in t2_figures(labels, echoes).items()} if len(echoes) >= 2 else {}
    )
    found: dict[str, list[str]] = {}
    for label in (KneeLabel(s) for s in structures):
        if figures.voxels(label) == 0:
            found[label.key] = ["empty"]
            continue
        shape = figures.shape_figures(label)
        broken = []
        if shape.get("rectangularity", 0.0) > criteria.max_rectangularity:
            broken.append(f"box-shaped (rectangularity {shape['rectangularity']:.2f})")
        if shape.get("inside_bone_share", 0.0) > 0:
            broken.append(f"{shape['inside_bone_share']:.1%} of voxels inside a bone")
        if label in CARTILAGE_PLATES:
            near = shape.get("near_bone_share", 0.0)
            if near < criteria.min_near_bone_share:
                broken.append(f"{near:.0%} of voxels within {criteria.near_bone_mm:g} mm of bone")
            low, high = criteria.thickness_mean_mm
            try:
                thickness = result.measurements.get(label.key, "thickness", "mean")
            except KeyError:
                broken.append("no thickness measured")
            else:
                if not low <= thickness <= high:
                    broken.append(f"mean thickness {thickness:.2f} mm not in {low:g}-{high:g}")
        t2 = medians.get(label)
        if len(echoes) >= 2 and t2 is None:
            broken.append("median T2 not measurable (too few voxels fit)")
        if label in CARTILAGE_PLATES and t2 is not None:
            low, high = criteria.cartilage_t2_ms
            if not low <= t2 <= high:
                broken.append(f"median T2 {t2:.1f} ms not in {low:g}-{high:g}")
        if label in MENISCI and t2 is not None and t2 > criteria.meniscus_max_t2_ms:
            broken.append(f"median T2 {t2:.1f} ms above {criteria.meniscus_max_t2_ms:g}")
        if broken:
            found[label.key] = broken
    return found
