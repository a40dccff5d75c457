"""An MR simulation of the knee independent of the training generators, to judge the
automatic segmenter on images it was not trained on (see docs/simulation.md)."""

from msklabel.data.simulation.presets import PRESETS, Preset
from msklabel.data.simulation.study import SimulatedStudy, simulate_study, write_study

__all__ = ["PRESETS", "Preset", "SimulatedStudy", "simulate_study", "write_study"]
