"""Thigh muscles on axial MR with a team's own SAM checkpoint: the msklabel app, other defaults.

The app itself is ``apps/msk``; this folder only holds its defaults (``msklabel.json``: the
SAM ViT-B checkpoint from ``$THIGH_SAM_CHECKPOINT`` and the thigh label set). MONAI Label
loads this file as ``main``: the msklabel app is imported from its folder under that name.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "apps" / "msk"))

from main import MyApp  # the msklabel app, found by MONAI Label in this module

__all__ = ["MyApp"]
