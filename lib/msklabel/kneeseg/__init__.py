"""Automatic knee segmentation by a dedicated network trained on synthesised images.

A small 2D U-Net labels every structure of a sagittal knee slice (bones, cartilage plates,
menisci) from two echoes of the series (an early and a late one; a single-echo series gives
the same image twice). It learns only from label maps: each training image is synthesised
with random tissue properties, surroundings, slice thickness, resolution and noise
(:mod:`msklabel.kneeseg.synth`), so that no single scanner or contrast is learnt. Anatomical
rules then keep each plate on its bone and each meniscus in the joint
(:mod:`msklabel.kneeseg.anatomy`).
"""

from msklabel.kneeseg.automatic import (
    KneeSegmentation,
    default_weights,
    load_segmenter,
    segment_knee,
)
from msklabel.kneeseg.network import KneeSegmenter

__all__ = [
    "KneeSegmentation",
    "KneeSegmenter",
    "default_weights",
    "load_segmenter",
    "segment_knee",
]
