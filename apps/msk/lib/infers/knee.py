"""The knee network's infer: every knee structure of the label set, no prompts."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from lib.device import device_choices, request_device
from lib.infers.base import write_label
from msklabel.labeling.labelset import LabelSet
from msklabel.labeling.models import KneeSegStore
from msklabel.labels import KneeLabel


class KneeInfer(InferTask):
    """Every knee structure of the label set in one label map (values as in ``/info``), from
    the knee network (the shipped one, or the newest fine-tuned by the ``kneeseg`` train task;
    kept per image for the next request, which propagation uses as its guide).

    A DICOM series is read with all its echoes (the network reads an early and a late one);
    a NIfTI image is one echo.
    """

    def __init__(self, store: KneeSegStore, labelset: LabelSet) -> None:
        known = {label.key for label in KneeLabel}
        self.values = {name: value for name, value in labelset.values.items() if name in known}
        super().__init__(
            type=InferType.SEGMENTATION,
            labels=dict(self.values),
            dimension=3,
            description="knee network: every knee structure, no prompts",
            config={"device": device_choices(store.device)},
        )
        self.store = store

    def is_valid(self) -> bool:
        return True

    def __call__(self, request: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        started = time.perf_counter()
        device = request_device(request, self.store.device)
        result = self.store.knee(request["image"], device)
        knee = result.labels.array
        labels = np.zeros(knee.shape, np.uint16 if max(self.values.values()) > 255 else np.uint8)
        for name, value in self.values.items():
            labels[knee == KneeLabel[name.upper()]] = value
        path = write_label(result.labels.with_array(labels), request)
        scores = {
            name: {
                str(k): round(float(s), 4)
                for k, s in enumerate(result.scores.get(int(KneeLabel[name.upper()]), []))
                if np.isfinite(s)
            }
            for name in self.values
        }
        params = {
            "label_names": dict(self.values),
            "model_id": self.store.segmenter(device).model_id,
            "laterality": {"knee": result.sides.laterality, "from": result.sides.source},
            "scores": scores,
            "latencies": {"total": round(time.perf_counter() - started, 3)},
        }
        return path, params
