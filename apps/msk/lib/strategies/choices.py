"""Strategies that pick the next image to label and say why: first, random, least sure, diverse."""

from __future__ import annotations

from typing import Any

import numpy as np
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.strategy import Strategy

from lib.scoring.uncertainty import UncertaintyScoring
from msklabel.features.embedding import StudyEmbedding
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
from msklabel.labeling.vectors import StudyVectors


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
    kept in the model folder (``embeddings/``, shared by the models) and reused while the
    image and the served model stay the same.
    """

    def __init__(self, store: ModelStore, slices: int) -> None:
        super().__init__("the unlabeled image farthest from every labeled one (study embeddings)")
        self.store = store
        self.slices = slices
        self.vectors = StudyVectors(store.folder / "embeddings")

    def vector(self, image: str, datastore: Datastore) -> np.ndarray:
        """The image's study vector under the current model, computed once and kept."""
        embedder = self.store.embedder()

        def compute() -> tuple[StudyEmbedding, list[int]]:
            volume = series_volume(datastore.get_image_uri(image))
            slices = sampled_indices(volume.shape[0], self.slices).tolist()
            return embed_sampled(embedder, volume, self.slices), slices

        version = str(datastore.get_image_info(image).get("ts", ""))
        return self.vectors.vector(image, version, embedder.model_id, compute)

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        if not datastore.get_unlabeled_images():
            return {}
        vectors = {image: self.vector(image, datastore) for image in datastore.list_images()}
        return _response(choose_diverse(vectors, datastore.get_labeled_images()))
