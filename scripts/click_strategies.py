"""How good is a lone click on a box-only model (LiteMedSAM)? Three ways to turn it into boxes.

Usage: python scripts/click_strategies.py [--study real|PRESET:SEED] [--slices 5 9 12 15 18]
[--clicks 4]

On the real sample knee (first echo) the shipped knee network's labels stand in for the truth;
on a held-out simulated study (``PRESET:SEED``, first echo) its truth is the truth. For each
structure and chosen slice where it has at least 100 pixels, ``--clicks`` random pixels of it
are clicked (seeded). Each click is answered:
- *served*: as the backend answers it (:class:`msklabel.segment.backends.sam.SamFamilyBackend`:
  a box around the click that grows while the mask touches it);
- *ladder*: boxes of 24, 48, 96 and 160 pixels centred on the click, keeping the answer with
  the highest predicted IoU among those that hold the click (4 decoder passes);
- *ladder, best possible*: the ladder's answer closest to the truth (an upper bound);
- *guided*: as the MONAI Label app answers a click on a knee structure, with the knee
  network's labels of the structure as the prompt's guide (``msklabel.segment.clicks``: the
  box around the network's part under the click where the answer agrees with that part, else
  as served). On the real sample this is circular (the network's labels
  are the reference), so there it only shows how closely LiteMedSAM follows the network.
Prints the mean Dice of each per structure, against the reference's mask on that slice.
"""

from __future__ import annotations

import argparse

import numpy as np

from msklabel.data.sample import fetch_sample
from msklabel.data.simulation import simulate_study
from msklabel.io import read_echoes
from msklabel.kneeseg.automatic import load_segmenter, segment_knee
from msklabel.labels import KneeLabel
from msklabel.segment import LabelPrompt, Point, Segmenter, load_backend
from msklabel.segment.overlap import dice
from msklabel.segment.prompts import SlicePrompt

SIDES = (24, 48, 96, 160)
STRUCTURES = (
    KneeLabel.FEMUR,
    KneeLabel.TIBIA,
    KneeLabel.PATELLA,
    KneeLabel.FEMORAL_CARTILAGE,
    KneeLabel.MEDIAL_MENISCUS,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slices", type=int, nargs="+", default=[5, 9, 12, 15, 18])
    parser.add_argument("--clicks", type=int, default=4)
    parser.add_argument("--study", default="real")
    args = parser.parse_args()
    if args.study == "real":
        echoes = read_echoes(fetch_sample().dicom_dir)
        network = segment_knee(echoes, load_segmenter(), progress=False).labels.array
        labels = network
    else:
        preset, seed = args.study.split(":")
        study = simulate_study(preset, int(seed))
        echoes, labels = study.echoes, study.truth.array
        network = segment_knee(echoes, load_segmenter(), "left", progress=False).labels.array
    session = Segmenter(load_backend("litemedsam")).session(echoes[0])
    high = np.array(echoes[0].shape[1:][::-1] * 2, float) - 1
    rng = np.random.default_rng(1)
    print("| structure | clicks | served | ladder | ladder, best possible | guided |")
    print("|---|---|---|---|---|---|")
    for label in STRUCTURES:
        scores: dict[str, list[float]] = {"served": [], "ladder": [], "best": [], "guided": []}
        for k in args.slices:
            truth = labels[k] == label
            if truth.sum() < 100:
                continue
            rows, columns = np.nonzero(truth)
            for i in rng.choice(len(rows), args.clicks, replace=False):
                row, column = float(rows[i]), float(columns[i])
                point = Point(k, row, column)
                click = LabelPrompt(label, points=[point]).on_slice(k)
                scores["served"].append(dice(session.predict_slice(k, click).mask, truth))
                guided = LabelPrompt(label, points=[point], guide=network == label)
                scores["guided"].append(dice(session.segment_label(guided)[k].mask, truth))
                holding = []
                for side in SIDES:
                    half = side / 2
                    box = np.clip([column - half, row - half, column + half, row + half], 0, high)
                    answer = session.predict_slice(
                        k, SlicePrompt(np.empty((0, 2)), np.empty(0, bool), box)
                    )
                    if answer.mask[round(row), round(column)]:
                        holding.append(answer)
                best = max(holding, key=lambda answer: answer.score, default=None)
                scores["ladder"].append(dice(best.mask, truth) if best else 0.0)
                scores["best"].append(max((dice(a.mask, truth) for a in holding), default=0.0))
        count = len(scores["served"])
        means = " | ".join(f"{np.mean(v):.3f}" for v in scores.values())
        print(f"| {KneeLabel(label).key} | {count} | {means} |", flush=True)


if __name__ == "__main__":
    main()
