"""Training the knee detector (automatic prompts) on the datastore's final label maps."""

from __future__ import annotations

from typing import Any

from monailabel.interfaces.datastore import Datastore

from lib.trainers.publishing import PublishingTrain
from msklabel.detect import TrainConfig
from msklabel.labeling.models import DetectorStore
from msklabel.labeling.training import train_detector_and_publish

#: Request keys and defaults (Slicer and OHIF show them as the train options).
DEFAULTS = {"max_steps": 300, "batch_size": 24, "learning_rate": 3e-3}


class DetectorTrain(PublishingTrain):
    """Trains the detector on the final labels' images and on images synthesised from the
    labels, then publishes it; the automatic infer uses it on its next request."""

    def __init__(self, store: DetectorStore) -> None:
        super().__init__(
            "train the knee detector that prompts the automatic infer", store, DEFAULTS
        )

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        options = self.options(request)
        config = TrainConfig(
            steps=int(options["max_steps"]),
            batch_size=int(options["batch_size"]),
            learning_rate=float(options["learning_rate"]),
        )
        pairs = [(item["image"], item["label"]) for item in datastore.datalist()]
        return train_detector_and_publish(self.store, pairs, config, self.device(request))
