"""Fully automatic prompting: a per-slice detector of knee structures whose boxes prompt the
segmentation engine, so that a knee MR series is segmented with no clicks.

>>> from msklabel.detect import segment_automatic
>>> result = segment_automatic(volume)  # doctest: +SKIP
>>> femur = result.mask(KneeLabel.FEMUR)  # doctest: +SKIP

The detector is a small centre-point network (torch and torchvision only) trained on images
synthesised from label maps; :func:`train_detector` retrains it on any knee label volumes,
with their images when given.
"""

from msklabel.detect.automatic import load_detector, prompts_for, segment_automatic
from msklabel.detect.classes import AUTOMATIC_LABELS, DetectorClass
from msklabel.detect.consistency import Rules, Structure, find_structures
from msklabel.detect.detector import Detector, SliceDetections
from msklabel.detect.training import TrainConfig, train_detector
from msklabel.detect.view import NotSagittalError

__all__ = [
    "AUTOMATIC_LABELS",
    "Detector",
    "DetectorClass",
    "NotSagittalError",
    "Rules",
    "SliceDetections",
    "Structure",
    "TrainConfig",
    "find_structures",
    "load_detector",
    "prompts_for",
    "segment_automatic",
    "train_detector",
]
