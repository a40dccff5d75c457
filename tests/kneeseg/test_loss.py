"""The training loss: a class a label map does not know costs nothing where it says
background."""

from __future__ import annotations

import torch

from msklabel.kneeseg.classes import SegClass
from msklabel.kneeseg.training import segmentation_loss


def _logits_for(seg_class: SegClass, size: int = 8) -> torch.Tensor:
    logits = torch.full((1, len(SegClass), size, size), -8.0)
    logits[:, seg_class] = 8.0
    return logits


def test_an_unknown_class_merges_with_the_background() -> None:
    background = torch.zeros(1, len(SegClass), 8, 8)
    background[:, SegClass.BACKGROUND] = 1.0
    known = torch.ones(1, len(SegClass), dtype=torch.bool)
    unknown = known.clone()
    unknown[:, SegClass.MENISCUS] = False
    says_meniscus = _logits_for(SegClass.MENISCUS)
    penalised = segmentation_loss(says_meniscus, background, known)
    tolerated = segmentation_loss(says_meniscus, background, unknown)
    right = segmentation_loss(_logits_for(SegClass.BACKGROUND), background, known)
    assert float(penalised) > 10 * float(tolerated)
    assert abs(float(tolerated) - float(right)) < 1e-3


def test_the_loss_falls_as_the_prediction_meets_the_target() -> None:
    target = torch.zeros(1, len(SegClass), 8, 8)
    target[:, SegClass.BACKGROUND] = 1.0
    target[:, :, 2:5, 2:6] = 0.0
    target[:, SegClass.FEMORAL_CARTILAGE, 2:5, 2:6] = 1.0
    known = torch.ones(1, len(SegClass), dtype=torch.bool)
    good = _logits_for(SegClass.BACKGROUND)
    good[:, SegClass.FEMORAL_CARTILAGE, 2:5, 2:6] = 16.0
    assert float(segmentation_loss(good, target, known)) < 0.05
    assert float(segmentation_loss(_logits_for(SegClass.BACKGROUND), target, known)) > 1.0
