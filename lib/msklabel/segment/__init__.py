"""Promptable segmentation of MR volumes: SAM, MedSAM, LiteMedSAM and SAM2 behind one interface.

>>> from msklabel.segment import Segmenter, LabelPrompt, Box, load_backend
>>> segmenter = Segmenter(load_backend("litemedsam"))  # doctest: +SKIP
>>> result = segmenter.segment(volume, [LabelPrompt(1, boxes=[Box(12, 0, 80, 130, 148)])])  # doctest: +SKIP
"""

from msklabel.segment.backends import MODELS, load_backend
from msklabel.segment.cache import EmbeddingCache
from msklabel.segment.engine import Segmentation, Segmenter, Session
from msklabel.segment.intensity import Window
from msklabel.segment.propagate import StopRule
from msklabel.segment.prompts import (
    Box,
    Box3D,
    LabelPrompt,
    Point,
    load_prompts,
    save_prompts,
)

__all__ = [
    "MODELS",
    "Box",
    "Box3D",
    "EmbeddingCache",
    "LabelPrompt",
    "Point",
    "Segmentation",
    "Segmenter",
    "Session",
    "StopRule",
    "Window",
    "load_backend",
    "load_prompts",
    "save_prompts",
]
