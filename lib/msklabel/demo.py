"""The main job on embedded defaults: the sample knee study segmented with LiteMedSAM.

Prompts are zero-training: on every slice, a box around the limb's tissue (the regions
above an Otsu threshold of the windowed slice). LiteMedSAM then outlines the
knee's tissue inside it. Per-structure automatic prompts arrive with the detector; until then
this job shows the whole path (DICOM in, geometry kept, model, outputs) on real data.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from msklabel import __version__
from msklabel.data.sample import fetch_sample
from msklabel.io import read_volumes
from msklabel.io.nifti import write_nifti
from msklabel.segment import Box, LabelPrompt, Segmentation, Segmenter, load_backend
from msklabel.volume import Volume

log = logging.getLogger(__name__)

#: The value of the segmented region in ``labels.nii.gz``.
TISSUE_LABEL = 1
#: Slices are encoded this many at a time (one progress step each).
BATCH = 4


@dataclass(frozen=True)
class DemoOutputs:
    """The files the main job wrote."""

    image: Path
    labels: Path
    overlay: Path
    summary: Path


def run_demo(out_dir: str | os.PathLike[str]) -> DemoOutputs:
    """Fetch the sample study, segment its first echo and write the outputs into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sample = fetch_sample()
    echoes = read_volumes(sample.dicom_dir)
    volume = echoes[0]
    log.info(
        "series %s: %d echoes, %d slices of %dx%d",
        volume.series_instance_uid, len(echoes), *volume.shape,
    )  # fmt: skip

    started = time.perf_counter()
    backend = load_backend("litemedsam")
    session = Segmenter(backend).session(volume)
    for first in tqdm(range(0, volume.shape[0], BATCH), desc="encoding slices", unit="batch"):
        session.embeddings(range(first, min(first + BATCH, volume.shape[0])))
    boxes = [box for k in range(volume.shape[0]) if (box := tissue_box(session.images[k], k))]
    result = session.segment(LabelPrompt(TISSUE_LABEL, boxes=boxes))
    seconds = time.perf_counter() - started

    outputs = DemoOutputs(
        out / "image.nii.gz", out / "labels.nii.gz", out / "overlay.png", out / "summary.json"
    )
    write_nifti(volume, outputs.image)
    write_nifti(result.labels, outputs.labels)
    _write_overlay(session.images, result.mask(TISSUE_LABEL), outputs.overlay)
    summary = _summary(volume, len(echoes), backend.model_id, result, seconds)
    outputs.summary.write_text(json.dumps(summary, indent=2))
    return outputs


def tissue_box(image: np.ndarray, index: int, margin: float = 4.0) -> Box | None:
    """A box around the limb's tissue on a windowed slice; None for an empty slice.

    The tissue is every region above Otsu's threshold larger than 1% of the slice (specks of
    noise and flow artefact are left out).
    """
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    if float(image.max()) <= float(image.min()):
        return None
    regions, count = ndimage.label(image > threshold_otsu(image))
    sizes = ndimage.sum_labels(np.ones_like(image), regions, index=range(1, count + 1))
    large = np.flatnonzero(sizes >= 0.01 * image.size) + 1
    if large.size == 0:
        return None
    return Box.around(np.isin(regions, large), index, margin)


def _summary(
    volume: Volume, echo_count: int, model_id: str, result: Segmentation, seconds: float
) -> dict:
    mask = result.mask(TISSUE_LABEL)
    scores = result.scores[TISSUE_LABEL]
    return {
        "msklabel_version": __version__,
        "input": {
            "series_instance_uid": volume.series_instance_uid,
            "echoes": echo_count,
            "echo_time_ms": volume.echo_time,
            "shape": list(volume.shape),
            "spacing_mm": list(volume.spacing),
        },
        "model": model_id,
        "prompts": "per-slice box around the regions above Otsu's threshold (> 1% of a slice)",
        "labels": {str(TISSUE_LABEL): "knee tissue inside the prompt box"},
        "segmented_volume_mm3": float(mask.sum() * volume.voxel_volume),
        "slices_segmented": int(np.isfinite(scores).sum()),
        "predicted_iou_per_slice": [None if np.isnan(s) else round(float(s), 4) for s in scores],
        "seconds": round(seconds, 2),
    }


def _write_overlay(images: np.ndarray, mask: np.ndarray, path: Path, tiles: int = 8) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    picks = np.linspace(0, images.shape[0] - 1, tiles + 2).round().astype(int)[1:-1]
    figure, axes = plt.subplots(2, tiles // 2, figsize=(2.2 * tiles // 2, 4.6), dpi=110)
    for axis, k in zip(axes.ravel(), picks, strict=True):
        axis.imshow(images[k], cmap="gray", vmin=0, vmax=1)
        if mask[k].any():
            axis.contour(mask[k], levels=[0.5], colors="lime", linewidths=0.8)
        axis.set_title(f"slice {k}", fontsize=8)
        axis.axis("off")
    figure.suptitle("LiteMedSAM on the sample knee (first echo)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
