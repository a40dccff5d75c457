"""Fixtures of the evaluation tests: a stand-in model that returns the reference."""

import pytest

from msklabel.evaluation.datasets import PhantomDataset, restricted
from msklabel.evaluation.models import Predictor
from msklabel.segment import Segmentation


@pytest.fixture
def perfect(monkeypatch):
    """Every model returns the reference (failing on cases named in ``fail``); ``calls``
    counts the predictions and ``loads`` the cases read."""
    calls, loads, fail = [], [], set()
    load = PhantomDataset.load

    def predict(self, case, mode, structures):
        calls.append((case.name, self.spec.name, str(mode)))
        if case.name in fail:
            raise ValueError("no knee found")
        return Segmentation(restricted(case.reference, structures), {})

    def counted_load(self, name):
        loads.append(name)
        return load(self, name)

    monkeypatch.setattr(Predictor, "predict", predict)
    monkeypatch.setattr(PhantomDataset, "load", counted_load)
    return calls, loads, fail
