"""An MR simulation of the knee independent of the training generators, to judge the
automatic segmenter on images it was not trained on (see docs/simulation.md).

The study API is imported on first use: it pulls in the detector (torch), which the
sequence model (:mod:`msklabel.data.simulation.sequence`, also used by T2 fitting) does not
need.
"""

from typing import Any

from msklabel.data.simulation.presets import PRESETS, Preset

__all__ = ["PRESETS", "Preset", "SimulatedStudy", "simulate_study", "write_study"]
_STUDY = ("SimulatedStudy", "simulate_study", "write_study")


def __getattr__(name: str) -> Any:
    if name in _STUDY:
        from msklabel.data.simulation import study

        return getattr(study, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
