"""The detector network: a small convolutional encoder-decoder with a centre-point head.

For every class the network predicts a heat map of box centres (stride 4), the box's width
and height and the centre's sub-cell offset. A class appears at most once per slice (its box
surrounds all of it), so decoding keeps the best peak of each class, suppressed against
nothing else; :func:`torchvision.ops.batched_nms` then removes same-class duplicates when
several peaks are asked for.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import batched_nms

from msklabel.detect.classes import DetectorClass
from msklabel.detect.view import INPUT_SIZE

#: Output cells are this many input pixels wide.
STRIDE = 4


def _conv(inputs: int, outputs: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class CentreNet(nn.Module):
    """Encoder at strides 2-32, top-down path back to stride 4, three 1x1 heads.

    The input holds each slice between ``context`` neighbouring slices either side (``2 *
    context + 1`` channels, the slice itself in the middle), so the network sees where a
    structure begins and ends across slices.
    """

    def __init__(
        self,
        classes: int = len(DetectorClass),
        widths: tuple[int, ...] = (16, 24, 40, 64, 96),
        context: int = 0,
    ) -> None:
        super().__init__()
        self.widths = tuple(widths)
        self.context = context
        self.stages = nn.ModuleList()
        previous = 2 * context + 1
        for width in widths:
            self.stages.append(nn.Sequential(_conv(previous, width, 2), _conv(width, width)))
            previous = width
        lateral = widths[1]
        self.laterals = nn.ModuleList(nn.Conv2d(w, lateral * 2, 1) for w in widths[1:])
        self.smooth = _conv(lateral * 2, lateral * 2)
        self.heatmap = nn.Conv2d(lateral * 2, classes, 1)
        self.size = nn.Conv2d(lateral * 2, 2 * classes, 1)
        self.offset = nn.Conv2d(lateral * 2, 2, 1)
        nn.init.constant_(self.heatmap.bias, -4.6)  # a prior of 1% centres

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Heat-map logits ``[n, C, h, w]``, log box sizes in input pixels ``[n, C, 2, h, w]``
        and centre offsets in cells ``[n, 2, h, w]``."""
        features = []
        x = images
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        top = self.laterals[-1](features[-1])
        for lateral, feature in zip(self.laterals[-2::-1], features[-2:0:-1], strict=True):
            top = F.interpolate(top, size=feature.shape[-2:], mode="nearest") + lateral(feature)
        top = self.smooth(top)
        n, _, h, w = top.shape
        return self.heatmap(top), self.size(top).view(n, -1, 2, h, w), self.offset(top)


def decode(
    heatmap: torch.Tensor, size: torch.Tensor, offset: torch.Tensor, per_class: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes ``[n, C, per_class, 4]`` (x0, y0, x1, y1 input pixels) and scores
    ``[n, C, per_class]`` from the network's outputs: the highest local maxima of each class,
    same-class overlaps suppressed (IoU > 0.3)."""
    n, classes, h, w = heatmap.shape
    scores = torch.sigmoid(heatmap)
    peaks = scores * (F.max_pool2d(scores, 3, stride=1, padding=1) == scores)
    candidates = min(4 * per_class, h * w)
    top, index = peaks.flatten(2).topk(candidates, dim=2)  # [n, C, k]
    rows, columns = (index // w).float(), (index % w).float()
    offsets = offset.flatten(2)  # [n, 2, h*w]
    dx = offsets[:, 0][:, None].expand(n, classes, -1).gather(2, index)
    dy = offsets[:, 1][:, None].expand(n, classes, -1).gather(2, index)
    sizes = size.flatten(3).exp()  # [n, C, 2, h*w]
    width = sizes[:, :, 0].gather(2, index)
    height = sizes[:, :, 1].gather(2, index)
    cx, cy = (columns + 0.5 + dx) * STRIDE, (rows + 0.5 + dy) * STRIDE
    boxes = torch.stack([cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2], -1)
    boxes = boxes.clamp(0, INPUT_SIZE)
    out_boxes = torch.zeros(n, classes, per_class, 4)
    out_scores = torch.zeros(n, classes, per_class)
    for image in range(n):
        flat_boxes = boxes[image].reshape(-1, 4)
        flat_scores = top[image].reshape(-1)
        groups = torch.arange(classes).repeat_interleave(candidates)
        keep = batched_nms(flat_boxes, flat_scores, groups, 0.3)
        for c in range(classes):
            kept = keep[groups[keep] == c][:per_class]
            out_boxes[image, c, : len(kept)] = flat_boxes[kept]
            out_scores[image, c, : len(kept)] = flat_scores[kept]
    return out_boxes, out_scores
