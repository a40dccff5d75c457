"""The automatic infer: every structure of the label set, prompted by the detector."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from monailabel.interfaces.tasks.infer_v2 import InferType

from lib.infers.base import MskInfer, Segmented
from msklabel.detect import segment_automatic
from msklabel.labeling.labelset import LabelSet
from msklabel.labeling.models import DetectorStore, ModelStore
from msklabel.segment import Segmentation, Segmenter, Session
from msklabel.volume import Volume


def automatic(
    detectors: DetectorStore, labelset: LabelSet
) -> Callable[[Volume, Segmenter], Segmentation]:
    """Segment a volume with no prompts: the current detector's boxes, on the segmenter's
    device, prompt ``segmenter``."""
    values = list(labelset.values.values())

    def run(volume: Volume, segmenter: Segmenter) -> Segmentation:
        detector = detectors.detector(segmenter.backend.device)
        return segment_automatic(volume, segmenter, values, detector, progress=False)

    return run


class AutomaticInfer(MskInfer):
    """All structures of the label set in one label map (values as in ``/info``)."""

    def __init__(self, store: ModelStore, detectors: DetectorStore, labelset: LabelSet) -> None:
        super().__init__(
            store,
            labelset,
            InferType.SEGMENTATION,
            dimension=3,
            description=f"{store.spec.model}: every structure of the label set, no prompts",
        )
        self.run = automatic(detectors, labelset)

    def segment(self, session: Session, request: Mapping[str, Any]) -> Segmented:
        values = dict(self.labelset.values)
        return Segmented(self.run(session.volume, session.segmenter), values, {})
