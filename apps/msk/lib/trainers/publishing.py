"""What every train task of this app shares: request options over defaults, store statistics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from monailabel.interfaces.tasks.train import TrainTask

from lib.device import device_choices, request_device


class PublishingTrain(TrainTask):
    """A train task that publishes to a model store; ``defaults`` are its request options
    (Slicer and OHIF show them as the train options), beside MONAI Label's ``device``."""

    def __init__(self, description: str, store: Any, defaults: Mapping[str, Any]) -> None:
        super().__init__(description)
        self.store = store
        self.defaults = dict(defaults)

    def config(self) -> dict[str, Any]:
        return {**self.defaults, "device": device_choices(self.store.device)}

    def stats(self) -> dict[str, Any]:
        """The last training's report (``/info`` ``train_stats``), with the learning curve
        and where its plot is, once a round recorded one."""
        curve = self.store.curve
        points = curve.points()
        if not points:
            return self.store.report()
        return {**self.store.report(), "learning_curve": points,
                "learning_curve_plot": str(curve.plot_path)}  # fmt: skip

    def options(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The request's options over the defaults (unknown keys ignored)."""
        return {**self.defaults, **{key: request[key] for key in self.defaults if key in request}}

    def device(self, request: Mapping[str, Any]) -> torch.device:
        """The device the request names (MONAI Label's names), or the store's."""
        return request_device(request, self.store.device)
