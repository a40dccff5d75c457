"""Can the knee network learn to undo the fat-water chemical shift when it is told where the
fat moves? A fine-tuning experiment on the held-out simulation (docs/simulation.md).

The shipped weights are fine-tuned on the default training volumes with the training
synthesis's fat shift (``msklabel.kneeseg.synth``) redirected: ``random`` keeps the shipped
random in-plane axis (the control), ``readout`` moves the fat along the display's vertical
axis only (where the simulation's readout lies) with a random sign, ``readout-sign`` also
fixes the sign to the simulation's (fat moved inferior: an upper bound, since a scanner's
sign is not in its header). The draws are the shipped synthesis's; only the direction
changes. Each network then segments the studies fully automatically; one row per study with
the Dice of every structure (bones, plates, menisci).

Usage: python scripts/chemshift_finetune.py [--modes random readout readout-sign]
[--steps 300] [--studies clinical-1.5t:3 clinical-1.5t:5 clinical-3t:3 pd-fatsat:3]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from msklabel.data.simulation import simulate_study
from msklabel.kneeseg import synth
from msklabel.kneeseg.automatic import load_segmenter, segment_knee
from msklabel.kneeseg.presets import training_volumes
from msklabel.kneeseg.training import TrainConfig, train_segmenter
from msklabel.labels import BONES, CARTILAGE_PLATES, MENISCI, KneeLabel
from msklabel.segment.overlap import dice

STRUCTURES = (*BONES, *CARTILAGE_PLATES, *MENISCI)
SHIPPED_SHIFT = synth._chemical_shift


def redirected(fixed_sign: bool):
    """The synthesis's shift function with every displacement turned onto the vertical axis
    (its size kept; its sign kept, or made inferior)."""

    def shift(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        grid, fraction = SHIPPED_SHIFT(count, generator)
        base = F.affine_grid(
            torch.eye(2, 3).expand(count, 2, 3), [count, 1, *grid.shape[1:3]], align_corners=False
        )
        translation = (grid - base)[:, 0, 0]  # [n, 2]: one component is zero
        size = translation.abs().sum(1)
        sign = -torch.ones(count) if fixed_sign else torch.sign(translation.sum(1))
        return base + torch.stack([torch.zeros(count), sign * size], 1)[:, None, None], fraction

    return shift


MODES = {"random": SHIPPED_SHIFT, "readout": redirected(False), "readout-sign": redirected(True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument(
        "--studies",
        nargs="+",
        default=["clinical-1.5t:3", "clinical-1.5t:5", "clinical-3t:3", "pd-fatsat:3"],
    )
    args = parser.parse_args()
    studies = []
    for item in args.studies:
        preset, seed = item.split(":")
        studies.append((item, simulate_study(preset, int(seed))))
    keys = " | ".join(KneeLabel(s).key for s in STRUCTURES)
    print(f"| network | study | {keys} |\n|" + "---|" * (2 + len(STRUCTURES)), flush=True)
    shipped = load_segmenter()
    networks = [("shipped", lambda: shipped)]
    config = TrainConfig(steps=args.steps, batch_size=8, learning_rate=3e-4, seed=1)
    volumes = training_volumes("default", progress=False)

    def tuned(mode: str):
        synth._chemical_shift = MODES[mode]
        try:
            started = time.time()
            network = train_segmenter(volumes, config, progress=True, initial=shipped)
            print(f"<!-- {mode}: {args.steps} steps in {time.time() - started:.0f} s -->")
            return network
        finally:
            synth._chemical_shift = SHIPPED_SHIFT

    networks += [(mode, lambda mode=mode: tuned(mode)) for mode in args.modes]
    for name, make in networks:
        network = make()
        for label, study in studies:
            labels = segment_knee(study.echoes, network, progress=False).labels.array
            truth = study.truth.array
            scores = " | ".join(f"{dice(labels == s, truth == s):.2f}" for s in STRUCTURES)
            print(f"| {name} | {label} | {scores} |", flush=True)


if __name__ == "__main__":
    main()
