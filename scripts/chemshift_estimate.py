"""Can the femoral cartilage's chemical-shift displacement be read from the image itself?

Usage: python scripts/chemshift_estimate.py PRESET:SEED [PRESET:SEED ...]

For each held-out simulated study the shipped knee network segments every structure; its
femoral cartilage (FC) is then moved along the rows (the simulation's readout) by -4..+4
pixels, and for each move the correlation ratio (eta squared) of the image (mean of the first
two echoes) over the label map is taken within 4 pixels of the network's FC (a mask that sits
where the cartilage's own signal is explains more of the intensity variance there). The
estimate is the move with the largest ratio; the script prints it beside the FC Dice at no move
and the best move against the truth (the oracle).
"""

from __future__ import annotations

import sys

import numpy as np
from scipy import ndimage

from msklabel.data.simulation import simulate_study
from msklabel.kneeseg.automatic import load_segmenter, segment_knee
from msklabel.labels import KneeLabel
from msklabel.segment.overlap import dice

MOVES = range(-4, 5)


def correlation_ratio(image: np.ndarray, labels: np.ndarray) -> float:
    """Share of the variance of ``image`` that the classes in ``labels`` explain."""
    total = image.var() * image.size
    within = sum(image[labels == v].var() * (labels == v).sum() for v in np.unique(labels))
    return float(1 - within / total)


def main() -> None:
    network = load_segmenter()
    cartilage = int(KneeLabel.FEMORAL_CARTILAGE)
    print("| study | FC Dice, no move | estimated move, Dice | best move (truth), Dice |")
    print("|---|---|---|---|")
    for name in sys.argv[1:]:
        preset, seed = name.split(":")
        study = simulate_study(preset, int(seed))
        labels = segment_knee(study.echoes, network, progress=False).labels.array
        truth = study.truth.array == cartilage
        image = np.mean([echo.array for echo in study.echoes[:2]], axis=0, dtype=float)
        plate = labels == cartilage
        near = ndimage.binary_dilation(plate, structure=np.ones((1, 9, 9), bool))
        ratios, scores = {}, {}
        for move in MOVES:
            moved = np.roll(plate, move, axis=1)
            relabelled = np.where(moved, cartilage, np.where(plate, 0, labels))
            ratios[move] = correlation_ratio(image[near], relabelled[near])
            scores[move] = dice(moved, truth)
        estimate, best = max(ratios, key=ratios.get), max(scores, key=scores.get)
        print(
            f"| {name} | {scores[0]:.3f} | {estimate:+d}, {scores[estimate]:.3f} "
            f"| {best:+d}, {scores[best]:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
