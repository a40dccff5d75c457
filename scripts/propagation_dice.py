"""Dice of box propagation (LiteMedSAM, packaged weights) from one box per bone.

Each bone is prompted alone with the box around its truth (2 pixels of margin) on the middle
slice of the slices it occupies, propagated both ways; Dice is taken over the whole volume.
Datasets: a sagittal phantom (1.2 mm slices) and one held-out simulated study per preset
(first echo).

With ``--guided`` each bone is followed where the shipped knee network (on all echoes)
places it, as the MONAI Label app's propagation infer does; the table then also gives the
network's own Dice.

Usage: python scripts/propagation_dice.py [--presets ...] [--seed N] [--slices N]
[--matrix N] [--no-phantom] [--guided]; prints a markdown table (Dice, then the slices each
bone spans and those propagation reached).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

import numpy as np

from msklabel.data.phantom import PhantomConfig, make_phantom
from msklabel.data.simulation import PRESETS, simulate_study
from msklabel.io.acquisition import Laterality
from msklabel.kneeseg.automatic import load_segmenter, segment_knee
from msklabel.labels import BONES
from msklabel.segment import Box, LabelPrompt, Segmenter, load_backend
from msklabel.segment.overlap import dice
from msklabel.volume import Volume

#: Margin (pixels) of the prompt box around the truth, as a user's box is a little loose.
BOX_MARGIN = 2.0


def datasets(
    args: argparse.Namespace,
) -> Iterator[tuple[str, list[Volume], np.ndarray, Laterality]]:
    """``(name, echoes, truth labels, side)`` of each dataset, generated on demand."""
    if args.phantom:
        config = PhantomConfig(seed=args.seed, echo_times=(30.0,), supersampling=1)
        phantom = make_phantom(config)
        yield "phantom sagittal 1.2 mm", phantom.echoes, phantom.labels.array, "right"
    for name in args.presets:
        study = simulate_study(name, args.seed, slices=args.slices, matrix=args.matrix)
        yield f"{name} seed {args.seed}", study.echoes, study.truth.array, "left"


def middle_box(truth: np.ndarray, label: int) -> Box:
    """The truth's box (grown by :data:`BOX_MARGIN`) on the middle slice of its range."""
    slices = np.flatnonzero((truth == label).any(axis=(1, 2)))
    middle = int(slices[len(slices) // 2])
    box = Box.around(truth[middle] == label, middle, BOX_MARGIN)
    assert box is not None
    return box


def propagated(
    segmenter: Segmenter,
    image: Volume,
    truth: np.ndarray,
    label: int,
    guide: np.ndarray | None = None,
) -> np.ndarray:
    """The mask that one box on the bone's middle slice propagates to."""
    prompt = LabelPrompt(label, boxes=[middle_box(truth, label)], propagate=True, guide=guide)
    return segmenter.segment(image, prompt).mask(label)


def span(mask: np.ndarray) -> str:
    slices = np.flatnonzero(mask.any(axis=(1, 2)))
    return f"{slices.min()}-{slices.max()}" if slices.size else "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slices", type=int, default=None)
    parser.add_argument("--matrix", type=int, default=None)
    parser.add_argument("--no-phantom", dest="phantom", action="store_false")
    parser.add_argument("--guided", action="store_true", help="guided by the knee network")
    args = parser.parse_args()
    segmenter = Segmenter(load_backend("litemedsam"))
    network = load_segmenter() if args.guided else None
    names = [bone.name.lower() for bone in BONES]
    extra = " | knee network alone" if args.guided else ""
    print("| dataset | " + " | ".join(names) + extra + " | slices (truth / propagated) |")
    print("|---|" + "---|" * (len(names) + 1 + bool(extra)), flush=True)
    for name, echoes, truth, side in datasets(args):
        start = time.time()
        image = echoes[0]
        knee = None
        if network is not None:
            knee = segment_knee(echoes, network, side, progress=False).labels.array
        cells, spans = [], []
        for bone in BONES:
            guide = None if knee is None else knee == bone
            mask = propagated(segmenter, image, truth, bone, guide)
            cells.append(f"{dice(mask, truth == bone):.3f}")
            spans.append(f"{span(truth == bone)} / {span(mask)}")
        if knee is not None:
            cells.append(" / ".join(f"{dice(knee == b, truth == b):.3f}" for b in BONES))
        print(
            f"| {name} | " + " | ".join(cells) + " | " + "; ".join(spans) + " |"
            f"  <!-- {image.shape}, {time.time() - start:.0f} s -->",
            flush=True,
        )


if __name__ == "__main__":
    main()
