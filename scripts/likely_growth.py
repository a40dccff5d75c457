"""Dice of each knee structure with and without growing it into the voxels the network was
unsure of (``msklabel.kneeseg.anatomy.LIKELY_PROBABILITY``), on the held-out simulation.

Usage: python scripts/likely_growth.py [--presets ...] [--seeds 70 71] [--classes PATELLA]
[--thresholds 0.3 0.2]; prints one markdown row per study: each class's Dice from the argmax,
then its change when that class alone is grown at each threshold.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from msklabel.data.simulation import PRESETS, simulate_study
from msklabel.kneeseg.anatomy import knee_labels
from msklabel.kneeseg.automatic import load_segmenter
from msklabel.kneeseg.classes import CLASS_OF_LABEL, SegClass
from msklabel.kneeseg.inference import predict
from msklabel.segment.overlap import dice


def score(labels: np.ndarray, truth: np.ndarray, seg_class: SegClass) -> float:
    """Mean Dice of the labels of ``seg_class`` (both sides of a sided class)."""
    values = [label for label, c in CLASS_OF_LABEL.items() if c == seg_class]
    return float(np.mean([dice(labels == v, truth == v) for v in values]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[70, 71, 72])
    parser.add_argument("--classes", nargs="+", default=["PATELLA"], choices=SegClass.__members__)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.2])
    args = parser.parse_args()
    classes = [SegClass[name] for name in args.classes]
    segmenter = load_segmenter()
    print("| study | " + " | ".join(c.name.lower() for c in classes) + " |", flush=True)
    for preset in args.presets:
        for seed in args.seeds:
            start = time.time()
            study = simulate_study(preset, seed)
            reference, truth = study.echoes[0], study.truth.array
            cells = {c: "" for c in classes}
            for index, threshold in enumerate(args.thresholds):
                found = predict(segmenter, study.echoes, likely=dict.fromkeys(classes, threshold))
                if index == 0:
                    plain = knee_labels(found.classes, reference, "left")[0]
                    cells = {c: f"{score(plain, truth, c):.3f}" for c in classes}
                for c in classes:
                    grown = knee_labels(
                        found.classes, reference, "left", likely={c: found.likely[c]}
                    )
                    cells[c] += (
                        f" {threshold:g}: {score(grown[0], truth, c) - score(plain, truth, c):+.3f}"
                    )
            row = " | ".join(cells[c] for c in classes)
            print(f"| {preset}:{seed} | {row} | <!-- {time.time() - start:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
