"""Strategies that pick the next image to label and say why: first, random, least sure, diverse."""

from __future__ import annotations

from typing import Any

from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.strategy import Strategy

from lib.scoring.uncertainty import UncertaintyScoring
from msklabel.labeling.active import (
    Choice,
    choose_diverse,
    choose_first,
    choose_least_sure,
    choose_random,
    embed_sampled,
    sampled_indices,
)
from msklabel.labeling.models import ModelStore
from msklabel.labeling.series import series_volume

#: The image-info key a study embedding is recorded under.
EMBEDDING_KEY = "msklabel_embedding"


def _response(choice: Choice | None) -> dict[str, Any]:
    if choice is None:
        return {}
    response = {"id": choice.image, "explanation": choice.explanation}
    if choice.uncertainty is not None:
        response["uncertainty"] = choice.uncertainty
    if choice.distance is not None:
        response["distance"] = choice.distance
    return response


class First(Strategy):
    """The first unlabeled image in name order."""

    def __init__(self) -> None:
        super().__init__("the first unlabeled image in name order")

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        return _response(choose_first(datastore.get_unlabeled_images()))


class Random(Strategy):
    """An unlabeled image at random."""

    def __init__(self) -> None:
        super().__init__("an unlabeled image drawn at random")

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        return _response(choose_random(datastore.get_unlabeled_images()))


class LeastSure(Strategy):
    """The unlabeled image the model is least sure about (lowest mean predicted IoU)."""

    def __init__(self, scoring: UncertaintyScoring) -> None:
        super().__init__("the unlabeled image with the lowest mean predicted IoU")
        self.scoring = scoring

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        images = datastore.get_unlabeled_images()
        found = {image: self.scoring.uncertainty(image, datastore) for image in images}
        return _response(choose_least_sure(found))


class Diverse(Strategy):
    """The unlabeled image least like any labeled one: k-centre greedy over study embeddings.

    Each image's embedding (the served encoder on the slices the uncertainty samples) is
    recorded in the datastore and reused while the served model is the one that made it.
    """

    def __init__(self, store: ModelStore, slices: int) -> None:
        super().__init__("the unlabeled image farthest from every labeled one (study embeddings)")
        self.store = store
        self.slices = slices

    def vector(self, image: str, datastore: Datastore) -> list[float]:
        """The image's study vector under the current model, computed once and recorded."""
        embedder = self.store.embedder()
        recorded = datastore.get_image_info(image).get(EMBEDDING_KEY)
        if recorded and recorded.get("model_id") == embedder.model_id:
            return recorded["study"]
        volume = series_volume(datastore.get_image_uri(image))
        found = embed_sampled(embedder, volume, self.slices)
        record = {
            "model_id": found.model_id,
            "weights_sha256": found.weights_sha256,
            "slices": sampled_indices(volume.shape[0], self.slices).tolist(),
            "study": found.study.tolist(),
        }
        datastore.update_image_info(image, {EMBEDDING_KEY: record})
        return record["study"]

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        if not datastore.get_unlabeled_images():
            return {}
        vectors = {image: self.vector(image, datastore) for image in datastore.list_images()}
        return _response(choose_diverse(vectors, datastore.get_labeled_images()))
