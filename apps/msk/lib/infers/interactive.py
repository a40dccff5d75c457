"""The interactive infer: clicks and boxes from Slicer or OHIF, the clicked structure out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monailabel.interfaces.tasks.infer_v2 import InferType

from lib.infers.base import MskInfer
from msklabel.labeling.labelset import LabelSet
from msklabel.labeling.models import ModelStore
from msklabel.labeling.requests import prompts_from_request
from msklabel.segment import Segmentation, Session


class InteractiveInfer(MskInfer):
    """Foreground/background clicks, label-named clicks or a box on the slices clicked.

    Each slice is encoded once per image (the engine's shared embedding cache), so later
    clicks on it only run the prompt encoder and mask decoder.
    """

    def __init__(self, store: ModelStore, labelset: LabelSet, propagate: bool = False) -> None:
        super().__init__(
            store,
            labelset,
            InferType.DEEPGROW,
            dimension=3 if propagate else 2,
            description=(
                f"{store.spec.model}: a box or clicks on one slice, followed through the slices"
                if propagate
                else f"{store.spec.model}: the structure clicked or boxed, on the slices prompted"
            ),
        )
        self.propagate = propagate

    def segment(
        self, session: Session, request: Mapping[str, Any]
    ) -> tuple[Segmentation, dict[str, int]]:
        shape = session.volume.shape
        asked = prompts_from_request(request, shape, self.labelset, self.propagate)
        return session.segment(asked.prompts), asked.label_names
