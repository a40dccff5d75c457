"""Records each unlabeled image's uncertainty (1 - mean predicted IoU) in the datastore."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.scoring import ScoringMethod

from msklabel.labeling.active import Uncertainty, measure_uncertainty
from msklabel.labeling.models import ModelStore
from msklabel.labeling.series import series_volume
from msklabel.segment import Segmentation, Segmenter
from msklabel.volume import Volume

#: The image-info key the uncertainty is recorded under.
KEY = "msklabel_uncertainty"


class UncertaintyScoring(ScoringMethod):
    """Scores unlabeled images with the automatic segmentation on a few sampled slices.

    A recorded score is reused while the served model is the one that made it.
    """

    def __init__(
        self,
        store: ModelStore,
        segment: Callable[[Volume, Segmenter], Segmentation],
        slices: int = 3,
    ) -> None:
        super().__init__("uncertainty = 1 - mean predicted IoU of the automatic segmentation")
        self.store = store
        self.segment = segment
        self.slices = slices

    def uncertainty(self, image: str, datastore: Datastore) -> Uncertainty:
        """The image's uncertainty under the current model, measured once and recorded."""
        segmenter = self.store.segmenter()
        model_id = segmenter.backend.model_id
        recorded = datastore.get_image_info(image).get(KEY)
        if recorded and recorded.get("model_id") == model_id:
            fields = {key: recorded[key] for key in Uncertainty.__dataclass_fields__}
            return Uncertainty(**{**fields, "slices": tuple(fields["slices"])})
        volume = series_volume(datastore.get_image_uri(image))
        found = measure_uncertainty(lambda v: self.segment(v, segmenter), volume, self.slices)
        datastore.update_image_info(image, {KEY: {**asdict(found), "model_id": model_id}})
        return found

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        images = datastore.get_unlabeled_images()
        return {image: asdict(self.uncertainty(image, datastore)) for image in images}
