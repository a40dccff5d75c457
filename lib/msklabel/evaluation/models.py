"""Models of an evaluation: the shipped knee network or a promptable backend, and the
segmentation of a case in one prompt mode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from msklabel import __version__
from msklabel.evaluation.datasets import Case, restricted
from msklabel.evaluation.prompts import PromptMode, simulate
from msklabel.io.checksum import file_digest
from msklabel.segment import DEFAULT_RUNTIME, MODELS, Segmentation, check_model_runtime

#: What a plan's ``model`` may name: the knee network, or a backend of msklabel.segment.
KINDS = ("kneeseg", *MODELS)
#: Prompt modes each kind of model accepts.
_ACCEPTS = {"kneeseg": ("automatic",)}
_PROMPTABLE = ("detector", "oracle-box", "clicks", "box+clicks")


@dataclass(frozen=True)
class ModelSpec:
    """A model to evaluate: ``model`` is ``kneeseg`` or a backend name (``litemedsam``,
    ``sam``, ``medsam``, ``sam2``) with weights from ``checkpoint`` (None: the shipped ones,
    where there are), architecture ``variant`` and the ``runtime`` of LiteMedSAM's image
    encoder (:data:`~msklabel.segment.RUNTIMES`); ``name`` labels it in the results."""

    name: str
    model: str
    prompts: tuple[PromptMode, ...]
    checkpoint: Path | None = None
    variant: str | None = None
    runtime: str = DEFAULT_RUNTIME

    def __post_init__(self) -> None:
        if self.model not in KINDS:
            raise ValueError(f"unknown model {self.model!r} (known: {', '.join(KINDS)})")
        check_model_runtime(self.model, self.runtime)
        accepted = _ACCEPTS.get(self.model, _PROMPTABLE)
        for mode in self.prompts:
            if mode.kind not in accepted:
                raise ValueError(
                    f"{self.model} cannot be prompted by {mode} (accepts: {', '.join(accepted)})"
                )

    def fingerprint(self, mode: PromptMode) -> dict:
        """What identifies this model's results in ``mode``: the SHA-256 of every weights file
        its predictions read (:meth:`weights_files`), msklabel's version and, other than the
        default, the runtime (its embeddings differ from torch's in the last bits)."""
        weights = [file_digest(path) for path in self.weights_files(mode)]
        runtime = {} if self.runtime == DEFAULT_RUNTIME else {"runtime": self.runtime}
        return {"model": self.model, "variant": self.variant, "weights": weights,
                "software": __version__, "mode": str(mode), **runtime}  # fmt: skip

    def weights_files(self, mode: PromptMode) -> list[Path]:
        """The weights files a prediction in ``mode`` reads: the checkpoint, or the shipped
        network of ``kneeseg`` and ``litemedsam``; and the shipped detector in detector mode."""
        files = []
        if self.checkpoint is not None:
            files.append(self.checkpoint)
        elif self.model == "kneeseg":
            from msklabel.kneeseg import default_weights

            files.append(default_weights())
        elif self.model == "litemedsam":
            from msklabel.segment.backends.litemedsam import packaged_checkpoint

            files.append(packaged_checkpoint())
        if mode.kind == "detector":
            from msklabel.detect.automatic import default_weights as detector_weights

            files.append(detector_weights())
        return files


class Predictor:
    """Segments cases with one model on ``device``; its weights are loaded on the first call."""

    def __init__(self, spec: ModelSpec, device: torch.device) -> None:
        self.spec = spec
        self.device = device
        self._network = None
        self._backend = None

    def predict(self, case: Case, mode: PromptMode, structures: Sequence[int]) -> Segmentation:
        """The label map of ``case`` for ``structures`` (other labels cleared)."""
        if self.spec.model == "kneeseg":
            result = self._kneeseg(case)
        elif mode.kind == "detector":
            from msklabel.detect import AUTOMATIC_LABELS, segment_automatic

            detectable = [s for s in structures if s in AUTOMATIC_LABELS]
            from msklabel.detect import load_detector

            result = segment_automatic(
                case.image, self._segmenter(), labels=detectable,
                detector=load_detector(device=self.device), progress=False,
            )  # fmt: skip
        else:
            session = self._segmenter().session(case.image)
            result = simulate(session, np.asarray(case.reference.array), structures, mode)
        return Segmentation(restricted(result.labels, structures), result.scores)

    def _kneeseg(self, case: Case) -> Segmentation:
        from msklabel.kneeseg import load_segmenter, segment_knee

        if self._network is None:
            self._network = load_segmenter(self.spec.checkpoint, self.device)
        return segment_knee(case.echoes, self._network, case.laterality, progress=False)

    def _segmenter(self):
        """A segmenter with an empty embedding cache, so that every case pays its encoding
        and run times compare across prompt modes."""
        from msklabel.segment import Segmenter, load_backend

        if self._backend is None:
            spec = self.spec
            self._backend = load_backend(
                spec.model, spec.checkpoint, spec.variant, device=self.device, runtime=spec.runtime
            )
        return Segmenter(self._backend)
