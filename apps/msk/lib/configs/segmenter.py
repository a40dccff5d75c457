"""One promptable model served by the app: its infers, its train task, strategies, scoring."""

from __future__ import annotations

from typing import Any

from monailabel.interfaces.config import TaskConfig
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.scoring import ScoringMethod
from monailabel.interfaces.tasks.strategy import Strategy
from monailabel.interfaces.tasks.train import TrainTask

from lib.infers.automatic import AutomaticInfer, automatic
from lib.infers.interactive import InteractiveInfer
from lib.scoring.uncertainty import UncertaintyScoring
from lib.strategies.choices import Diverse, First, LeastSure, Random
from lib.trainers.finetune import FinetuneTrain
from msklabel.features import EMBEDDING_MODELS
from msklabel.labeling.models import DetectorStore, KneeSegStore, ModelStore
from msklabel.labeling.options import AppOptions


class SegmenterConfig(TaskConfig):
    """Infers ``<name>_interactive``, ``<name>_propagation``, ``<name>_automatic`` and the
    train task ``<name>``; with ``primary``, the strategies and the scoring method too.
    ``detectors`` is the app's knee detector, shared by the automatic infers; ``knees`` the
    app's knee network, whose labels guide the propagation of knee structures.

    The automatic infer and the uncertainty (scoring, least-sure strategy) need the knee
    detector: they are offered for knee label sets only.
    """

    def init(self, name: str, model_dir: str, conf: dict[str, str], planner: Any, **kwargs: Any):
        super().init(name, model_dir, conf, planner, **kwargs)
        self.options: AppOptions = kwargs["options"]
        self.primary: bool = kwargs.get("primary", True)
        self.store = ModelStore(kwargs["spec"], model_dir, name, self.options.device)
        self.detectors: DetectorStore = kwargs["detectors"]
        self.knees: KneeSegStore | None = kwargs.get("knees")
        labelset = self.options.labelset
        self.scoring = (
            UncertaintyScoring(
                self.store,
                automatic(self.detectors, labelset),
                self.options.scoring_slices,
            )
            if labelset.automatic
            else None
        )

    def infer(self) -> dict[str, InferTask]:
        labelset = self.options.labelset
        infers: dict[str, InferTask] = {
            f"{self.name}_interactive": InteractiveInfer(self.store, labelset, guides=self.knees),
            f"{self.name}_propagation": InteractiveInfer(
                self.store, labelset, propagate=True, guides=self.knees
            ),
        }
        if labelset.automatic:
            infers[f"{self.name}_automatic"] = AutomaticInfer(self.store, self.detectors, labelset)
        return infers

    def trainer(self) -> TrainTask:
        return FinetuneTrain(self.store, self.options.labelset)

    def strategy(self) -> dict[str, Strategy] | None:
        if not self.primary:
            return None
        found: dict[str, Strategy] = {"first": First(), "random": Random()}
        if self.store.spec.model in EMBEDDING_MODELS:
            found["diverse"] = Diverse(self.store, self.options.scoring_slices)
        if self.scoring is not None:
            found["least_sure"] = LeastSure(self.scoring)
        return found

    def scoring_method(self) -> dict[str, ScoringMethod] | None:
        if not self.primary or self.scoring is None:
            return None
        return {"uncertainty": self.scoring}
