"""The app's ``-c key value`` options, read and checked once.

An app folder may hold ``msklabel.json``, an object of the same keys: its values are the
folder's defaults (a relative ``checkpoint`` or ``model_dir`` is taken from the folder), and
``-c`` options override them. This is how a team's app sets its own checkpoint and labels.

- ``models``: promptable models served, comma-separated (``litemedsam``, ``sam``,
  ``medsam``, ``sam2``); default ``litemedsam``.
- ``checkpoint``: base weights of the first model (required for SAM, MedSAM, SAM2);
  default the packaged LiteMedSAM weights. ``variant``: architecture (``vit_b``, ``hiera_b+``).
- ``labels``: the label set, ``femur,tibia`` or ``name=value,...``; default the knee set.
- ``model_dir``: where fine-tuned checkpoints are published; default ``<app>/model``.
- ``dicomweb_filter``: QIDO search of a DICOMweb datastore, JSON; default
  ``{"Modality": "MR"}``.
- ``scoring_slices``: slices sampled per image by the uncertainty scoring and the diverse
  strategy's study embedding; default 3.
- ``auto_update_scoring``: rescore all images after training and next-sample requests
  (MONAI Label's habit); default ``false``.
- ``device``: where the models run unless a request names a ``device`` (as MONAI Label's
  own infer and train requests do): ``auto`` (a CUDA GPU if there is one, else the CPU),
  ``cpu``, ``cuda`` or ``cuda:N``; default ``auto``.
- ``runtime``: what runs LiteMedSAM's image encoder, ``torch`` or ``onnx`` (ONNX Runtime, fp32
  on the CPU; torch where it cannot serve); the other models run in torch. Default
  :data:`msklabel.segment.DEFAULT_RUNTIME`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from msklabel.device import resolve_device
from msklabel.errors import InputError
from msklabel.labeling.labelset import LabelSet
from msklabel.labeling.models import ModelSpec
from msklabel.segment import DEFAULT_RUNTIME, MODELS, RUNTIMES


@dataclass(frozen=True)
class AppOptions:
    """What the app serves, from its configuration."""

    models: tuple[ModelSpec, ...]
    labelset: LabelSet
    model_dir: Path
    dicomweb_filter: dict[str, Any] = field(default_factory=lambda: {"Modality": "MR"})
    scoring_slices: int = 3
    device: torch.device = field(default_factory=resolve_device)
    runtime: str = DEFAULT_RUNTIME

    @classmethod
    def from_conf(cls, conf: Mapping[str, str], app_dir: str | os.PathLike[str]) -> AppOptions:
        """Read the options, raising ValueError naming the key of a bad value."""
        conf = {**folder_defaults(app_dir), **conf}
        names = [name.strip() for name in conf.get("models", "litemedsam").split(",") if name]
        unknown = [name for name in names if name not in MODELS]
        if unknown or not names:
            raise ValueError(f"-c models: unknown {unknown or names} (known: {', '.join(MODELS)})")
        checkpoint = conf.get("checkpoint") or None
        if checkpoint is not None and not Path(checkpoint).is_file():
            raise ValueError(f"-c checkpoint: no such file {checkpoint}")
        runtime = conf.get("runtime") or DEFAULT_RUNTIME
        if runtime not in RUNTIMES:
            raise ValueError(f"-c runtime: unknown {runtime!r} (known: {', '.join(RUNTIMES)})")
        models = tuple(
            ModelSpec(
                name,
                checkpoint if number == 0 else None,
                conf.get("variant") or None,
                runtime if name == "litemedsam" else "torch",
            )
            for number, name in enumerate(names)
        )
        try:
            labelset = LabelSet.parse(conf.get("labels"))
        except ValueError as error:
            raise ValueError(f"-c labels: {error}") from None
        try:
            device = resolve_device(conf.get("device", "auto"))
        except ValueError as error:
            raise ValueError(f"-c device: {error}") from None
        try:
            search = json.loads(conf.get("dicomweb_filter", '{"Modality": "MR"}'))
        except json.JSONDecodeError as error:
            raise ValueError(f"-c dicomweb_filter: not JSON ({error})") from None
        return cls(
            models=models,
            labelset=labelset,
            model_dir=Path(conf.get("model_dir") or Path(app_dir) / "model"),
            dicomweb_filter=search,
            scoring_slices=int(conf.get("scoring_slices", 3)),
            device=device,
            runtime=runtime,
        )


#: The file in an app folder that holds its default options.
DEFAULTS_FILE = "msklabel.json"


def folder_defaults(app_dir: str | os.PathLike[str]) -> dict[str, str]:
    """The options in ``<app_dir>/msklabel.json`` (none if absent), variables and paths expanded."""
    path = Path(app_dir) / DEFAULTS_FILE
    if not path.is_file():
        return {}
    try:
        found = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(path, f"not JSON ({error})") from None
    if not isinstance(found, dict):
        raise InputError(path, "must hold a JSON object of option names and values")
    values = {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in found.items()
    }
    for key in ("checkpoint", "model_dir"):
        if values.get(key):
            values[key] = str(Path(app_dir) / Path(os.path.expandvars(values[key])).expanduser())
    return values
