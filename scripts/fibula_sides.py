"""Which knee the shipped network's fibula says it is, on the held-out simulation.

Usage: python scripts/fibula_sides.py [--presets ...] [--seeds 1 2] [--matrix 192]

Each simulated knee (a left one) is segmented without a header, and again mirrored across
its sagittal plane (a right knee); prints, per knee, the side the fibula rule of
:func:`msklabel.kneeseg.anatomy.knee_labels` names, whether it is clear or assumed, and
whether it is right; then the counts.
"""

from __future__ import annotations

import argparse
from collections import Counter

from msklabel.data.simulation import PRESETS, simulate_study
from msklabel.kneeseg.anatomy import knee_labels
from msklabel.kneeseg.automatic import load_segmenter
from msklabel.kneeseg.inference import predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--matrix", type=int, default=192)
    args = parser.parse_args()
    segmenter = load_segmenter()
    counts: Counter[str] = Counter()
    for preset in args.presets:
        for seed in args.seeds:
            study = simulate_study(preset, seed, matrix=args.matrix)
            classes = predict(segmenter, study.echoes).classes
            for knee, order in (("left", slice(None)), ("right", slice(None, None, -1))):
                _, sides = knee_labels(classes[order].copy(), study.echoes[0], None)
                outcome = f"{sides.source}, {'right' if sides.laterality == knee else 'WRONG'}"
                counts[outcome] += 1
                named = f"{preset} seed {seed} {knee} knee: {sides.laterality}"
                print(f"{named} ({outcome})", flush=True)
    for outcome, count in sorted(counts.items()):
        print(f"{outcome}: {count}")


if __name__ == "__main__":
    main()
