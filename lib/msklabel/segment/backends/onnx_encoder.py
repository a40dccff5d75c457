"""The image encoder run by ONNX Runtime instead of torch, where that is faster (CPU only).

The graph is exported from the encoder already loaded (never downloaded) on first use, and kept
in ``<msklabel cache>/onnx`` under a name made of the SHA-256 of the encoder's weights and the
torch and ONNX Runtime versions: a second process, or a second backend with the same weights,
loads it without exporting. The export writes a temporary file and renames it, so no process
ever reads a half-written graph. Where ONNX Runtime is missing or the export fails, the reason
is logged once and the encoder runs in torch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from msklabel.data.sample import cache_root
from msklabel.errors import OptionError

logger = logging.getLogger(__name__)

#: How the image encoder may run: torch, or ONNX Runtime on the CPU.
RUNTIMES = ("torch", "onnx")
#: The runtime of every loader and command unless one is named.
DEFAULT_RUNTIME = "torch"
#: ONNX operator set the graph is exported at.
OPSET = 18

_reported: set[str] = set()


def check_runtime(runtime: str) -> str:
    """``runtime`` if known, else :class:`~msklabel.errors.OptionError` naming the choices."""
    if runtime not in RUNTIMES:
        raise OptionError(f"unknown runtime {runtime!r} (known: {', '.join(RUNTIMES)})")
    return runtime


class OnnxEncoder:
    """An ONNX Runtime session computing what ``source`` (a torch image encoder) computes.

    Its intra-op threads are torch's (``torch.get_num_threads()``) when it is made.
    """

    def __init__(self, source: torch.nn.Module, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.source = source
        self.path = path
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self._input = self.session.get_inputs()[0].name

    def serves(self, encoder: torch.nn.Module) -> bool:
        """Whether this graph stands for ``encoder`` (not for a copy being fine-tuned)."""
        return encoder is self.source

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        """Embeddings of ``[n, 3, size, size]`` CPU network inputs, one slice per run."""
        arrays = inputs.detach().cpu().numpy().astype(np.float32, copy=False)
        outputs = [self.session.run(None, {self._input: array[None]})[0] for array in arrays]
        return torch.from_numpy(np.concatenate(outputs))


def onnx_encoder(
    encoder: torch.nn.Module, input_size: int, device: torch.device, precision: str
) -> OnnxEncoder | None:
    """The ONNX Runtime form of ``encoder`` for ``[1, 3, input_size, input_size]`` inputs, or
    None (the reason logged once) where it cannot serve: ONNX Runtime missing, a device other
    than the CPU, a precision other than fp32, or a failed export."""
    if device.type != "cpu":
        return _fallback(f"ONNX Runtime serves the CPU only, not {device}")
    if precision != "fp32":
        return _fallback(f"ONNX Runtime runs the encoder in fp32 only, not {precision}")
    try:
        import onnxruntime
    except ImportError as error:
        return _fallback(f"onnxruntime is not installed ({error})")
    path = graph_path(encoder, input_size, onnxruntime.__version__)
    try:
        if not path.is_file():
            export_encoder(encoder, input_size, path)
        return OnnxEncoder(encoder, path)
    except Exception as error:  # the exporter and ONNX Runtime raise many types
        return _fallback(f"the ONNX graph {path} failed ({type(error).__name__}: {error})")


def graph_path(encoder: torch.nn.Module, input_size: int, ort_version: str) -> Path:
    """Where the graph of ``encoder`` is cached: named by its weights' SHA-256, the input size
    and the torch and ONNX Runtime versions."""
    name = (
        f"encoder-{weights_digest(encoder)[:32]}-{input_size}"
        f"-torch{torch.__version__}-ort{ort_version}.onnx"
    )
    return cache_root() / "onnx" / name


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's state dict: names, dtypes, shapes and bytes, in order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def export_encoder(encoder: torch.nn.Module, input_size: int, path: Path) -> None:
    """Export ``encoder`` to ``path`` atomically (a temporary file in the same folder, then a
    rename), traced at the one input shape it serves (the tracer's warnings about shapes are
    silenced: no other shape reaches the graph)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=".partial", dir=path.parent
    )
    os.close(handle)
    example = torch.zeros(1, 3, input_size, input_size)
    logger.info("exporting the image encoder to ONNX: %s", path)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                encoder,
                (example,),
                temporary,
                input_names=["image"],
                output_names=["embedding"],
                opset_version=OPSET,
                dynamo=False,
            )
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _fallback(reason: str) -> None:
    if reason not in _reported:
        _reported.add(reason)
        logger.warning("image encoder runs in torch: %s", reason)
    return None
