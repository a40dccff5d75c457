"""The device of a request, in MONAI Label's terms.

MONAI Label's own tasks offer ``device`` in their config (the GPU names of
:func:`~monailabel.utils.others.generic.device_list`) and read a request's ``device`` with
:func:`~monailabel.utils.others.generic.name_to_device`: a GPU name or ``cuda[:N]``, which
falls back to the CPU where there is no GPU. The app does the same; a request that names no
device runs on the app's ``-c device``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from monailabel.utils.others.generic import device_list, name_to_device

from msklabel.device import resolve_device


def device_choices(default: torch.device) -> list[str]:
    """Device names for a task's config as MONAI Label lists them, and ``cpu``; ``default``
    first (clients send the first unless the user picks another)."""
    names = list(dict.fromkeys([*device_list(), "cpu"]))
    return sorted(names, key=lambda name: resolve_device(name_to_device(name)) != default)


def request_device(request: Mapping[str, Any], default: torch.device) -> torch.device:
    """The device a request names (MONAI Label's names), or ``default``."""
    named = request.get("device")
    if not named:
        return default
    return resolve_device(name_to_device(named))
