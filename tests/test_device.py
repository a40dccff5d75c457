"""The one device choice: ``auto``, ``cpu``, ``cuda[:N]``; clear errors; mixed precision."""

from __future__ import annotations

import pytest
import torch

from msklabel.device import ENVIRONMENT, mixed_precision, resolve_device
from msklabel.errors import DeviceError, MsklabelError

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")


@NO_CUDA
def test_auto_is_the_cpu_where_torch_sees_no_gpu(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT)  # the suite's own setting
    assert resolve_device() == resolve_device("auto") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


def test_the_environment_names_what_auto_stands_for(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # no GPU here: simulated
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv(ENVIRONMENT, "cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cuda") == torch.device("cuda", 0)  # an explicit choice wins
    monkeypatch.setenv(ENVIRONMENT, "auto")
    assert resolve_device("auto") == torch.device("cuda", 0)
    monkeypatch.setenv(ENVIRONMENT, "gpu")
    with pytest.raises(DeviceError, match="MSKLABEL_DEVICE='gpu': device 'gpu': unknown"):
        resolve_device()


@NO_CUDA
@pytest.mark.parametrize("choice", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_cuda_without_a_gpu_is_a_clear_error_naming_the_choice(choice):
    with pytest.raises(DeviceError, match=f"device '{choice}': torch sees no CUDA GPU") as error:
        resolve_device(choice)
    assert isinstance(error.value, MsklabelError) and "choose cpu or auto" in str(error.value)


@pytest.mark.parametrize("choice", ["gpu", "cuda:x", "cuda:-1", "cuda0", "", "mps", "cpu:0"])
def test_other_names_are_refused(choice):
    with pytest.raises(DeviceError, match=r"unknown \(choose auto, cpu, cuda or cuda:N\)"):
        resolve_device(choice)


def test_cuda_indices_are_checked_against_the_gpus_there_are(monkeypatch):
    # no GPU here: torch's answers for a machine with two are simulated
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv(ENVIRONMENT)
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match=r"'cuda:2': this machine has 2 CUDA device\(s\)"):
        resolve_device("cuda:2")


def test_mixed_precision_autocasts_only_when_asked():
    cpu = torch.device("cpu")
    a = torch.ones(4, 4)
    with mixed_precision(cpu, "fp32"):
        assert (a @ a).dtype == torch.float32
    with mixed_precision(cpu, "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    assert (a @ a).dtype == torch.float32
    with pytest.raises(ValueError, match="'fp16' runs on CUDA only"), mixed_precision(cpu, "fp16"):
        pass
    with pytest.raises(ValueError, match="unknown precision 'int8'"), mixed_precision(cpu, "int8"):
        pass
