"""Strategies that pick the next image to label and say why: first, random, least sure."""

from __future__ import annotations

from typing import Any

from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.strategy import Strategy

from lib.scoring.uncertainty import UncertaintyScoring
from msklabel.labeling.active import Choice, choose_first, choose_least_sure, choose_random


def _response(choice: Choice | None) -> dict[str, Any]:
    if choice is None:
        return {}
    response = {"id": choice.image, "explanation": choice.explanation}
    if choice.uncertainty is not None:
        response["uncertainty"] = choice.uncertainty
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
