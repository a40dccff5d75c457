"""The one device choice of the library: where models run and their tensors live.

``auto`` (the default of every command and loader) is the first CUDA GPU when torch sees
one, else the CPU, unless the environment variable ``MSKLABEL_DEVICE`` names a device for
it; ``cpu``, ``cuda`` and ``cuda:N`` name a device explicitly. Inputs and outputs of the
library stay NumPy arrays on the CPU whatever the device.

>>> resolve_device("cpu")
device(type='cpu')
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import time
from collections.abc import Iterator

import torch

from msklabel.errors import DeviceError, OptionError

#: The default choice: a CUDA GPU where there is one, else the CPU.
AUTO = "auto"
#: The environment variable that names the device ``auto`` stands for (e.g. ``cpu``).
ENVIRONMENT = "MSKLABEL_DEVICE"
#: What a device choice may say (for help texts and error messages).
CHOICES = "auto, cpu, cuda or cuda:N"
#: Arithmetic of mixed precision: fp32 (none), bf16 (CPU or CUDA), fp16 (CUDA only).
PRECISIONS = ("fp32", "bf16", "fp16")

#: bf16 counts as native where a small bf16 matmul reaches this share of the fp32 rate: CPUs
#: with bf16 instructions (AVX-512 BF16, AMX) run it at 1-4x fp32's rate, CPUs without them
#: emulate it about 100x slower than fp32 (an AVX2 EPYC: 1 against 150 GFLOP/s).
NATIVE_BF16_SHARE = 0.25

_CUDA = re.compile(r"cuda(?::(\d+))?")


def resolve_device(choice: str | torch.device = AUTO) -> torch.device:
    """The device ``choice`` names; :class:`DeviceError` naming the choice if it cannot be used.

    ``auto``: the device ``$MSKLABEL_DEVICE`` names if set, else ``cuda:0`` when
    ``torch.cuda.is_available()``, else ``cpu``. ``cuda`` is ``cuda:0``; ``cuda:N`` must be
    below the number of CUDA devices.
    """
    text = str(choice).strip().lower()
    if text == AUTO:
        configured = os.environ.get(ENVIRONMENT, AUTO)
        if configured.strip().lower() != AUTO:
            try:
                return resolve_device(configured)
            except DeviceError as error:
                raise DeviceError(f"{ENVIRONMENT}={configured!r}: {error}") from None
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    match = _CUDA.fullmatch(text)
    if match is None:
        raise DeviceError(f"device {str(choice)!r}: unknown (choose {CHOICES})")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {str(choice)!r}: torch sees no CUDA GPU on this machine "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}); "
            "choose cpu or auto"
        )
    index, count = int(match.group(1) or 0), torch.cuda.device_count()
    if index >= count:
        raise DeviceError(
            f"device {str(choice)!r}: this machine has {count} CUDA device(s), cuda:0 to "
            f"cuda:{count - 1}"
        )
    return torch.device("cuda", index)


def check_precision(precision: str, device: torch.device) -> str:
    """``precision`` if ``device`` can run it, else :class:`OptionError` naming both."""
    if precision not in PRECISIONS:
        raise OptionError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})")
    if precision == "fp16" and device.type != "cuda":
        raise OptionError(f"precision 'fp16' runs on CUDA only, not on {device}")
    return precision


@contextlib.contextmanager
def mixed_precision(device: torch.device, precision: str = "fp32") -> Iterator[None]:
    """Autocast to ``precision`` on ``device`` inside the block (fp32: no autocast).

    Weights stay float32; matrix products and convolutions run in the lower precision.
    """
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(check_precision(precision, device))
    if dtype is None:
        yield
        return
    with torch.autocast(device.type, dtype=dtype):
        yield


def matmul_rate(
    dtype: torch.dtype = torch.float32,
    size: int = 2048,
    repeats: int = 5,
    device: torch.device | None = None,
) -> float:
    """The best FLOP/s of a dense ``size`` x ``size`` matmul on this process's torch threads
    (or on ``device``, a GPU), over ``repeats`` timed runs after two untimed ones.

    The compute limit the benchmark compares with: what the machine's BLAS reaches on the
    densest kernel there is, on the same threads as the model.
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device, dtype)
    b = torch.randn(size, size, generator=generator).to(device, dtype)
    out = torch.empty(size, size, dtype=dtype, device=device)
    cuda = device is not None and device.type == "cuda"
    best = float("inf")
    for run in range(repeats + 2):
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        if cuda:
            torch.cuda.synchronize(device)
        if run >= 2:
            best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best


@functools.cache
def native_bf16() -> tuple[bool, float, float]:
    """Whether this CPU does bf16 arithmetic natively, with the probe's bf16 and fp32 FLOP/s
    (256 x 256 matmuls: under 0.1 s even where bf16 is emulated). Probed once per process."""
    bf16 = matmul_rate(torch.bfloat16, 256, repeats=3)
    fp32 = matmul_rate(torch.float32, 256, repeats=3)
    return bf16 >= NATIVE_BF16_SHARE * fp32, bf16, fp32


def bf16_pays(device: torch.device) -> bool:
    """Whether bf16 autocast can speed work up on ``device``: a CUDA GPU with bf16 support,
    or a CPU with bf16 arithmetic (:func:`native_bf16`); elsewhere it is emulated and slower
    than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and native_bf16()[0]
