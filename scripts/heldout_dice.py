"""Fully automatic Dice of the knee segmenter on the held-out simulation.

Usage: python scripts/heldout_dice.py WEIGHTS [WEIGHTS ...] [--seeds 1 2] [--presets ...]
[--slices N] [--matrix N] [--one-pair]; each study is simulated once and segmented by every
weights file (with ``--one-pair`` also from its first echo pair alone, as the network read a
series before 2026-12-07); prints one row per study and configuration, and the mean per preset
and configuration (markdown).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from msklabel.data.simulation import PRESETS, simulate_study
from msklabel.kneeseg.automatic import load_segmenter, segment_knee
from msklabel.kneeseg.network import echo_pair
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
    parser.add_argument(
        "--one-pair", action="store_true", help="also segment from the first echo pair alone"
    )
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
            inputs = {"": study.echoes}
            if args.one_pair:
                inputs[" (one echo pair)"] = list(echo_pair(study.echoes))
            for path, segmenter in segmenters.items():
                for suffix, echoes in inputs.items():
                    found = segment_knee(echoes, segmenter, "left", progress=False)
                    labels = found.labels.array
                    values = [dice(labels == s, truth == s) for s in STRUCTURES]
                    rows.setdefault((path + suffix, name), []).append(values)
                    cells = " | ".join(f"{v:.2f}" for v in values)
                    print(f"| {path}{suffix} | {name} | {seed} | {cells} |", flush=True)
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
