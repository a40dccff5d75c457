"""Fine-tuning the served model on the datastore's final labels, published for the infers."""

from __future__ import annotations

from typing import Any

from monailabel.interfaces.datastore import Datastore

from lib.trainers.publishing import PublishingTrain
from msklabel.labeling.labelset import LabelSet
from msklabel.labeling.models import ModelStore
from msklabel.labeling.training import train_and_publish
from msklabel.segment.finetune import FinetuneConfig

#: Request keys and defaults (Slicer and OHIF show them as the train options).
DEFAULTS = {"max_steps": 100, "max_slices": 64, "learning_rate": 1e-4, "batch_size": 4}


class FinetuneTrain(PublishingTrain):
    """Trains the mask decoder on box prompts around each final label, then publishes.

    The infers load the published checkpoint on their next request, without a restart.
    """

    def __init__(self, store: ModelStore, labelset: LabelSet) -> None:
        super().__init__(f"fine-tune {store.spec.model} on the final labels", store, DEFAULTS)
        self.labelset = labelset

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        options = self.options(request)
        config = FinetuneConfig(
            steps=int(options["max_steps"]),
            batch_size=int(options["batch_size"]),
            learning_rate=float(options["learning_rate"]),
        )
        pairs = [(item["image"], item["label"]) for item in datastore.datalist()]
        return train_and_publish(
            self.store, pairs, self.labelset.values, config, int(options["max_slices"]),
            self.device(request),
        )  # fmt: skip
