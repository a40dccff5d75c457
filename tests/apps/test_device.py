"""The app's device: ``-c device`` by default, a request's ``device`` in MONAI Label's terms."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest
import torch

from msklabel.serve import DEFAULT_APP


@pytest.fixture(scope="module")
def app_device() -> ModuleType:
    """``apps/msk/lib/device.py``, loaded from its file (the app's ``lib`` is no package here)."""
    path = DEFAULT_APP / "lib" / "device.py"
    spec = importlib.util.spec_from_file_location("msk_app_device", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CPU = torch.device("cpu")


def test_a_request_without_device_runs_on_the_apps_device(app_device):
    assert app_device.request_device({}, CPU) == CPU
    assert app_device.request_device({"device": ""}, CPU) == CPU
    assert app_device.request_device({"device": "cpu"}, CPU) == CPU
    assert app_device.request_device({"device": ["cpu"]}, CPU) == CPU  # as a list, like Slicer


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_monai_labels_stock_cuda_request_falls_back_to_the_cpu(app_device):
    # MONAI Label's tasks ask for "cuda" by default and run on the CPU where there is none
    assert app_device.request_device({"device": "cuda"}, CPU) == CPU
    assert app_device.device_choices(CPU) == ["cpu"]


def test_the_apps_device_is_offered_first(app_device):
    choices = app_device.device_choices(CPU)
    assert choices[0] == "cpu" and len(choices) == len(set(choices))
