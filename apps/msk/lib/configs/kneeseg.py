"""The knee network as a MONAI Label model: the ``knee_automatic`` infer and its train task."""

from __future__ import annotations

from typing import Any

from monailabel.interfaces.config import TaskConfig
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.train import TrainTask

from lib.infers.knee import KneeInfer
from lib.trainers.kneeseg import KneeSegTrain
from msklabel.labeling.labelset import LabelSet
from msklabel.labeling.models import KneeSegStore


class KneeSegConfig(TaskConfig):
    """Infer ``knee_automatic`` and train task ``kneeseg`` (fine-tuning on final labels)."""

    def init(self, name: str, model_dir: str, conf: dict[str, str], planner: Any, **kwargs: Any):
        super().init(name, model_dir, conf, planner, **kwargs)
        self.store: KneeSegStore = kwargs["store"]
        self.labelset: LabelSet = kwargs["labelset"]

    def infer(self) -> dict[str, InferTask]:
        return {"knee_automatic": KneeInfer(self.store, self.labelset)}

    def trainer(self) -> TrainTask:
        return KneeSegTrain(self.store)
