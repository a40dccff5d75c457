"""What every msklabel infer shares: read the image, segment, write the label file."""

from __future__ import annotations

import os
import tempfile
import time
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import SimpleITK as sitk
from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from lib.device import device_choices, request_device
from msklabel.io.nifti import write_nifti
from msklabel.labeling.labelset import LabelSet
from msklabel.labeling.models import ModelStore
from msklabel.segment import Segmentation, Session
from msklabel.volume import Volume


class Segmented(NamedTuple):
    """What an infer found: the segmentation, each label's value, and what else the response
    says (``notes``)."""

    segmentation: Segmentation
    label_names: dict[str, int]
    notes: dict[str, Any]


class MskInfer(InferTask):
    """An infer on one model: the image in, a label file with the image's geometry out."""

    def __init__(
        self,
        store: ModelStore,
        labelset: LabelSet,
        type: InferType,
        dimension: int,
        description: str,
        labels: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(
            type=type,
            labels=dict(labels if labels is not None else labelset.values),
            dimension=dimension,
            description=description,
            config={"device": device_choices(store.device)},
        )
        self.store = store
        self.labelset = labelset

    def is_valid(self) -> bool:
        return True

    @abstractmethod
    def segment(self, session: Session, request: Mapping[str, Any]) -> Segmented:
        """The segmentation of the session's image for ``request`` and each label's value."""

    def __call__(self, request: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        started = time.perf_counter()
        session = self.store.session(request["image"], request_device(request, self.store.device))
        loaded = time.perf_counter()
        result, label_names, notes = self.segment(session, request)
        inferred = time.perf_counter()
        path = write_label(result.labels, request)
        done = time.perf_counter()
        names = {value: name for name, value in label_names.items()}
        params = {
            "label_names": label_names,
            "model_id": session.backend.model_id,
            "scores": {
                names.get(value, str(value)): {
                    str(index): round(float(score), 4)
                    for index, score in enumerate(scores)
                    if np.isfinite(score)
                }
                for value, scores in result.scores.items()
            },
            "latencies": {
                "pre": round(loaded - started, 3),
                "infer": round(inferred - loaded, 3),
                "post": round(done - inferred, 3),
                "total": round(done - started, 3),
            },
            **notes,
        }
        return path, params


def write_label(labels: Volume, request: Mapping[str, Any]) -> str:
    """Write ``labels`` as the request asks (``result_extension``, ``result_dtype``)."""
    extension = str(request.get("result_extension") or ".nii.gz")
    if not extension.startswith("."):
        extension = "." + extension
    dtype = np.dtype(request.get("result_dtype") or labels.array.dtype)
    array = labels.array.astype(dtype)
    with tempfile.NamedTemporaryFile(suffix=".nii.gz", delete=False) as handle:
        nifti = handle.name
    write_nifti(labels.with_array(array), nifti)
    if extension in (".nii.gz", ".nii"):
        return nifti
    with tempfile.NamedTemporaryFile(suffix=extension, delete=False) as handle:
        converted = handle.name
    sitk.WriteImage(sitk.ReadImage(nifti), converted, useCompression=False)
    os.unlink(nifti)
    return converted
