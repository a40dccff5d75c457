"""The knee detector as a MONAI Label model: a train task, no infer of its own."""

from __future__ import annotations

from typing import Any

from monailabel.interfaces.config import TaskConfig
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.train import TrainTask

from lib.trainers.detector import DetectorTrain
from msklabel.labeling.models import DetectorStore


class DetectorConfig(TaskConfig):
    """Train task ``detector``; the automatic infers of the segmenters use what it publishes."""

    def init(self, name: str, model_dir: str, conf: dict[str, str], planner: Any, **kwargs: Any):
        super().init(name, model_dir, conf, planner, **kwargs)
        self.store: DetectorStore = kwargs["store"]

    def infer(self) -> dict[str, InferTask]:
        return {}

    def trainer(self) -> TrainTask:
        return DetectorTrain(self.store)
