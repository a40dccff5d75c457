"""An evaluation on a Dask distributed cluster: one task per case x configuration.

``connect("tcp://HOST:8786")`` joins a running scheduler (``dask scheduler`` with ``dask
worker`` processes on any machines); ``connect("local", workers=N)`` starts a local cluster
of N single-threaded worker processes. Every worker reads the cases where they live and
writes each result into the cache under ``OUT/cache`` as soon as it is made, so ``OUT`` must
be a folder that the client and every worker see at the same path (a shared file system).

A case's reference is one task and its configurations depend on it (so it is measured once);
results already cached are read here and never submitted. When a worker dies, Dask runs its
unfinished tasks again on another one; a task finds what the dead worker had finished in the
cache, so nothing finished is computed twice and the run completes. A worker keeps its
models loaded and its last cases read between tasks.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import TYPE_CHECKING

from msklabel.errors import InputError

if TYPE_CHECKING:
    from dask.distributed import Client
    from tqdm import tqdm

    from msklabel.evaluation.datasets import Case, Dataset
    from msklabel.evaluation.models import ModelSpec, Predictor
    from msklabel.evaluation.runner import Configuration, Evaluator, Outcome

#: Cases a worker keeps read (the configurations of one case often run on one worker).
CASES_KEPT = 2
_predictors: dict[tuple[ModelSpec, str], Predictor] = {}
_cases: OrderedDict[str, Case] = OrderedDict()


def connect(scheduler: str, workers: int = 2) -> Client:
    """A client of the Dask scheduler at ``scheduler`` (``tcp://HOST:PORT``), or with
    ``local`` of a new local cluster of ``workers`` single-threaded processes."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise InputError(
            scheduler, "Dask is not installed: pip install 'msklabel[distributed]'"
        ) from None
    if scheduler == "local":  # the client owns the cluster: closing it stops the workers
        return Client(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    try:
        return Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as error:
        raise InputError(scheduler, f"cannot reach the Dask scheduler ({error})") from None


def run_on_cluster(
    evaluator: Evaluator, cases: list[tuple[Dataset, str]], client: Client, bar: tqdm
) -> list[Outcome]:
    """The outcomes of every case x configuration, in the order of ``cases`` and
    ``evaluator.configurations``; what the cache lacks runs as tasks of ``client``."""
    from dask.distributed import Future, as_completed

    from msklabel.evaluation.runner import Outcome

    configurations = evaluator.configurations
    outcomes: dict[tuple[int, int], Outcome] = {}
    references: dict[int, Future | dict] = {}
    pending: dict[Future, tuple[int, int]] = {}
    for c, (dataset, name) in enumerate(cases):
        for k, configuration in enumerate(configurations):
            cached = evaluator.cached(dataset, name, configuration)
            if cached is not None:
                outcomes[c, k] = cached
                bar.update()
                continue
            if c not in references:
                references[c] = client.submit(
                    _reference, evaluator, dataset, name, key=f"reference-{_key(dataset, name)}"
                )
            key = f"{_key(dataset, name)}-{configuration.cache_name(evaluator.plan)}"
            future = client.submit(
                _result, evaluator, dataset, name, configuration, references[c], key=key
            )
            pending[future] = (c, k)
        if c not in references:  # every result cached: the reference is too
            references[c] = evaluator.reference(dataset, name, partial(dataset.load, name))
    for future in as_completed(pending):
        c, k = pending[future]
        if future.status == "finished":
            outcomes[c, k] = future.result()
        else:
            error = future.exception()
            outcomes[c, k] = Outcome({"error": f"{type(error).__name__}: {error}"}, "failed")
        dataset, name = cases[c]
        bar.set_postfix_str(f"{dataset.name}/{name} {configurations[k].model.name}")
        bar.update()
    for c, reference in references.items():
        if isinstance(reference, Future):
            references[c] = reference.result()  # a case that cannot be read stops the run
    return [
        evaluator.completed(*cases[c], configurations[k], outcomes[c, k], references[c])
        for c in range(len(cases))
        for k in range(len(configurations))
    ]


def _reference(evaluator: Evaluator, dataset: Dataset, name: str) -> dict:
    """Task: the reference record of a case."""
    return evaluator.reference(dataset, name, lambda: _case(dataset, name))


def _result(
    evaluator: Evaluator, dataset: Dataset, name: str, configuration: Configuration, _: dict
) -> Outcome:
    """Task: one case x configuration (after its case's reference, the last argument)."""
    return evaluator.result(
        dataset,
        name,
        configuration,
        lambda: _case(dataset, name),
        _predictor(configuration.model, evaluator.device),
    )


def _case(dataset: Dataset, name: str) -> Case:
    """Case ``name`` of ``dataset``, read once per worker while among its last cases."""
    key = _key(dataset, name)
    if key in _cases:
        _cases.move_to_end(key)
    else:
        _cases[key] = dataset.load(name)
        while len(_cases) > CASES_KEPT:
            _cases.popitem(last=False)
    return _cases[key]


def _predictor(spec: ModelSpec, device: str) -> Predictor:
    """The worker's predictor of ``spec`` on ``device`` as this worker resolves it (weights
    loaded once per worker)."""
    from msklabel.device import resolve_device
    from msklabel.evaluation.models import Predictor

    if (spec, device) not in _predictors:
        _predictors[spec, device] = Predictor(spec, resolve_device(device))
    return _predictors[spec, device]


def _key(dataset: Dataset, name: str) -> str:
    """The case's name in task keys and in the worker's cases."""
    return f"{dataset.name}-{dataset.fingerprint()}-{name}"
