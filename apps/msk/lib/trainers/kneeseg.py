"""Fine-tuning the knee network on the datastore's final label maps and their images."""

from __future__ import annotations

from typing import Any

from monailabel.interfaces.datastore import Datastore

from lib.trainers.publishing import PublishingTrain
from msklabel.kneeseg.training import TrainConfig
from msklabel.labeling.models import KneeSegStore
from msklabel.labeling.training import train_kneeseg_and_publish

#: Request keys and defaults (Slicer and OHIF show them as the train options).
DEFAULTS = {"max_steps": 300, "batch_size": 8, "learning_rate": 3e-4}


class KneeSegTrain(PublishingTrain):
    """Fine-tunes the knee network on the final labels with their images (half of every batch)
    and on images synthesised from those labels, then publishes it; the knee infer uses it on
    its next request."""

    def __init__(self, store: KneeSegStore) -> None:
        super().__init__("fine-tune the knee network on the final labels", store, DEFAULTS)

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        options = self.options(request)
        config = TrainConfig(
            steps=int(options["max_steps"]),
            batch_size=int(options["batch_size"]),
            learning_rate=float(options["learning_rate"]),
        )
        pairs = [(item["image"], item["label"]) for item in datastore.datalist()]
        return train_kneeseg_and_publish(self.store, pairs, config, self.device(request))
