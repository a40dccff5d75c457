"""Fully automatic Dice of the knee segmenter on the held-out simulation.

Usage: python scripts/heldout_dice.py WEIGHTS [WEIGHTS ...] [--seeds 1 2] [--presets ...]
[--slices N] [--matrix N]; each study is simulated once and segmented by every weights file;
prints one row per study and weights, and the mean per preset and weights (markdown).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from msklabel.data.simulation import PRESETS, simulate_study
from msklabel.kneeseg.automatic import load_segmenter, segment_knee
from msklabel.labels import BONES, CARTILAGE_PLATES, MENISCI
from msklabel.segment.overlap import dice

STRUCTURES = (*BONES, *CARTILAGE_PLATES, *MENISCI)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("weights", nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--slices", type=int, default=None)
    parser.add_argument("--matrix", type=int, default=None)
    args = parser.parse_args()
    segmenters = {path: load_segmenter(path) for path in args.weights}
    header = "| weights | preset | seed | " + " | ".join(s.name.lower() for s in STRUCTURES)
    print(header + " |\n|" + "---|" * (len(STRUCTURES) + 3), flush=True)
    rows: dict[tuple[str, str], list[list[float]]] = {}
    for name in args.presets:
        for seed in args.seeds:
            start = time.time()
            study = simulate_study(name, seed, slices=args.slices, matrix=args.matrix)
            simulated = time.time() - start
            truth = study.truth.array
            for path, segmenter in segmenters.items():
                labels = segment_knee(study.echoes, segmenter, "left", progress=False).labels.array
                values = [dice(labels == s, truth == s) for s in STRUCTURES]
                rows.setdefault((path, name), []).append(values)
                cells = " | ".join(f"{v:.2f}" for v in values)
                print(f"| {path} | {name} | {seed} | {cells} |", flush=True)
            print(
                f"<!-- simulate {simulated:.0f} s, total {time.time() - start:.0f} s, "
                f"shape {study.truth.shape} -->",
                flush=True,
            )
    for (path, name), values in rows.items():
        mean = np.mean(values, 0)
        print(f"| {path} | {name} | mean | " + " | ".join(f"{v:.2f}" for v in mean) + " |")


if __name__ == "__main__":
    main()
