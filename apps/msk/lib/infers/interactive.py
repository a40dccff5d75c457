"""The interactive infer: clicks and boxes from Slicer or OHIF, the clicked structure out."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any

from monailabel.interfaces.tasks.infer_v2 import InferType

from lib.device import request_device
from lib.infers.base import MskInfer, Segmented
from msklabel.errors import MsklabelError
from msklabel.labeling.labelset import LabelSet
from msklabel.labeling.models import KneeSegStore, ModelStore
from msklabel.labeling.requests import prompts_from_request
from msklabel.labels import KneeLabel
from msklabel.segment import LabelPrompt, Session

logger = logging.getLogger(__name__)


class InteractiveInfer(MskInfer):
    """Foreground/background clicks, label-named clicks or a box on the slices clicked.

    Each slice is encoded once per image (the engine's shared embedding cache), so later
    clicks on it only run the prompt encoder and mask decoder. With ``guides`` (the app's knee
    network), a click on a knee structure asks for the box around the network's part of it
    under the click (:func:`msklabel.segment.clicks.guided_click`), and with ``propagate`` the
    structure is followed through the slices where the network places it
    (:func:`msklabel.segment.propagate.propagate_boxes`); the response names the network under
    ``guide``. The network runs once per image (the first click on it waits for it).
    """

    def __init__(
        self,
        store: ModelStore,
        labelset: LabelSet,
        propagate: bool = False,
        guides: KneeSegStore | None = None,
    ) -> None:
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
        self.guides = guides
        known = {label.key: label for label in KneeLabel}
        self.knee_labels = {
            value: known[name] for name, value in labelset.values.items() if name in known
        }

    def segment(self, session: Session, request: Mapping[str, Any]) -> Segmented:
        shape = session.volume.shape
        asked = prompts_from_request(request, shape, self.labelset, self.propagate)
        prompts, notes = list(asked.prompts), {}
        # without propagation the guide only serves clicks (a box is answered as drawn)
        wanted = any(p.label in self.knee_labels and (self.propagate or p.points) for p in prompts)
        if self.guides is not None and wanted:
            prompts, notes = self.guided(prompts, session, request)
        return Segmented(session.segment(prompts), asked.label_names, notes)

    def guided(
        self, prompts: list[LabelPrompt], session: Session, request: Mapping[str, Any]
    ) -> tuple[list[LabelPrompt], dict[str, Any]]:
        """``prompts`` with the knee network's mask of their structure as guide, and the note
        saying so; unchanged (and the note saying why) where the network cannot read the
        image."""
        assert self.guides is not None
        started = time.perf_counter()
        device = request_device(request, self.guides.device)
        try:
            knee = self.guides.knee(request["image"], device).labels.array
        except (MsklabelError, ValueError) as error:
            logger.info("propagation without the knee network's guide (%s)", type(error).__name__)
            return prompts, {"guide": {"used": False, "reason": str(error)}}
        if knee.shape != session.volume.shape:
            reason = f"the knee network's labels have shape {knee.shape}"
            return prompts, {"guide": {"used": False, "reason": reason}}
        prompts = [
            dataclasses.replace(prompt, guide=knee == self.knee_labels[prompt.label])
            if prompt.label in self.knee_labels
            else prompt
            for prompt in prompts
        ]
        note = {
            "used": True,
            "model_id": self.guides.segmenter(device).model_id,
            "seconds": round(time.perf_counter() - started, 3),
        }
        return prompts, {"guide": note}
