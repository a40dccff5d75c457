"""``msklabel bench``: speed, latency, throughput and memory, each beside a reference measured
in the same run (a compute limit or a peer tool) and the ratio of the two.

>>> from msklabel.bench import BenchSettings, run_bench  # doctest: +SKIP
>>> rows, context = run_bench(BenchSettings(quick=True), families=["encoder"])  # doctest: +SKIP

This module stays light: the rows import torch and the model when they run.
"""

#: The row families, in the order they run (memory last: it reports the others' processes;
#: gpu rows are measured only where torch sees a CUDA GPU, else each says why it is absent).
FAMILIES = ("encoder", "click", "automatic", "listener", "arrival", "dicom", "gpu", "memory")
