"""Promptable segmentation of MR volumes: SAM, MedSAM, LiteMedSAM and SAM2 behind one interface.

>>> from msklabel.segment import Segmenter, LabelPrompt, Box, load_backend
>>> segmenter = Segmenter(load_backend("litemedsam"))  # doctest: +SKIP
>>> femur = LabelPrompt(1, boxes=[Box(12, 0, 80, 130, 148)])
>>> result = segmenter.segment(volume, [femur])  # doctest: +SKIP
"""

from msklabel.segment.backends import (
    DEFAULT_RUNTIME,
    MODELS,
    RUNTIMES,
    check_model_runtime,
    load_backend,
)
from msklabel.segment.cache import EmbeddingCache
from msklabel.segment.engine import Segmentation, Segmenter, Session
from msklabel.segment.intensity import Window
from msklabel.segment.prompts import (
    Box,
    Box3D,
    LabelPrompt,
    Point,
    load_prompts,
    save_prompts,
)
from msklabel.segment.propagate import StopRule

__all__ = [
    "DEFAULT_RUNTIME",
    "MODELS",
    "RUNTIMES",
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
    "check_model_runtime",
    "load_backend",
    "load_prompts",
    "save_prompts",
]
