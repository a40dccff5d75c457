"""What the rows of one bench run share: settings, the model, the sample, the compute limits."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from msklabel.segment import Session
from msklabel.segment.backends.sam import SamFamilyBackend
from msklabel.volume import Volume


@dataclass(frozen=True)
class BenchSettings:
    """How much each row measures; ``quick`` keeps the whole run under three minutes."""

    quick: bool = False

    @property
    def encoder_slices(self) -> int:
        return 2 if self.quick else 12

    @property
    def clicks(self) -> int:
        return 10 if self.quick else 40

    @property
    def rest_clicks(self) -> int:
        return 3 if self.quick else 20

    @property
    def phantom_slices(self) -> int:
        return 16 if self.quick else 160

    @property
    def matmul_size(self) -> int:
        return 1024 if self.quick else 2048


class BenchContext:
    """Shared, lazily made resources of one run; ``workdir`` holds its temporary files."""

    def __init__(self, settings: BenchSettings, workdir: str | os.PathLike[str]) -> None:
        self.settings = settings
        self.workdir = Path(workdir)
        #: Results of the worker processes, by volume name (for the memory rows).
        self.worker_results: dict[str, dict] = {}
        #: The MONAI Label server's peak resident bytes, or why it was not measured.
        self.server_peak_rss: int | str = "the REST rows did not run"
        #: The same after a guided propagation, or why it was not measured.
        self.server_propagation_peak_rss: int | str = "the REST rows did not run"
        #: Every matmul rate measured in this run (FLOP/s by precision), in order.
        self.measured_rates: list[dict[str, float]] = []

    @functools.cached_property
    def backend(self) -> SamFamilyBackend:
        """LiteMedSAM in fp32 on the CPU (loading it also tunes the allocator, as in
        production)."""
        from msklabel.segment import load_backend

        return load_backend("litemedsam", device="cpu")

    @functools.cached_property
    def sample(self) -> Volume:
        """The first echo of the real sample knee (24 slices)."""
        from msklabel.io import read_volumes

        return read_volumes(self.sample_dir)[0]

    @functools.cached_property
    def sample_session(self) -> Session:
        """A session on the sample knee (windowed slices; its own embedding cache)."""
        from msklabel.segment import Segmenter

        return Segmenter(self.backend).session(self.sample)

    @functools.cached_property
    def femur_guide(self) -> np.ndarray:
        """The shipped knee network's femur on :attr:`sample` (boolean volume): the guide the
        MONAI Label app gives a click on the femur of that image."""
        from msklabel.kneeseg import load_segmenter, segment_knee
        from msklabel.labels import KneeLabel

        labels = segment_knee([self.sample], load_segmenter(device="cpu"), progress=False).labels
        return labels.array == KneeLabel.FEMUR

    @functools.cached_property
    def sample_dir(self) -> Path:
        from msklabel.data.sample import fetch_sample

        return Path(fetch_sample().dicom_dir)

    @property
    def matmul_rates(self) -> dict[str, float]:
        """Dense matmul FLOP/s in fp32, and in bf16 where the CPU has bf16 arithmetic
        (:func:`~msklabel.device.native_bf16`), measured now on this process's threads.

        Measured afresh at each use, right before the work it is the limit of, so that both
        see the same machine (other processes come and go on a shared one).
        """
        from msklabel.device import matmul_rate, native_bf16
        from msklabel.segment.runtime import reuse_freed_memory

        reuse_freed_memory()  # the allocator as the model's own runs have it
        size = self.settings.matmul_size
        rates = {"fp32": matmul_rate(torch.float32, size)}
        if native_bf16()[0]:
            rates["bf16"] = matmul_rate(torch.bfloat16, size)
        self.measured_rates.append(rates)
        return rates

    @functools.cached_property
    def encoder_flops(self) -> int:
        """FLOPs of LiteMedSAM's image encoder on one slice."""
        from msklabel.bench.measure import count_flops

        images = self.sample_session.images[:1]
        return count_flops(lambda: self.backend.encode(images))

    def describe(self) -> dict[str, object]:
        """The machine and settings, for the JSON output."""
        return {
            "quick": self.settings.quick,
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "cpu": _cpu_name(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "matmul_gflops": [{k: v / 1e9 for k, v in r.items()} for r in self.measured_rates],
        }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"
