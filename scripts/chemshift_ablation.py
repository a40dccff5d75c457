"""Does the fat-water chemical shift displace the automatic femoral cartilage? An ablation on
the held-out simulation (docs/simulation.md).

Each (preset, seed) is simulated once per shift, all else equal (same anatomy, fields and
noise: only ``bandwidth_hz_per_pixel`` or ``chemical_shift`` differ), and segmented fully
automatically as scripts/heldout_dice.py does. Per study it prints the Dice of every
structure, the row roll (rows are the readout) that maximises the Dice of femur and femoral
cartilage with the Dice there, and the femoral cartilage's volume and mean thickness against
the truth's (markdown).

Usage: python scripts/chemshift_ablation.py [--presets clinical-3t clinical-1.5t]
[--seeds 3 4 5] [--shifts preset 0 0.9 double] [--weights W] [--slices N] [--matrix N]
A shift is ``preset`` (the preset's bandwidth), ``double`` (half its bandwidth), ``0`` (no
chemical shift) or a number of acquired pixels (the bandwidth that gives it).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from tqdm import tqdm

from msklabel.biomarkers.thickness import plate_thickness
from msklabel.data.simulation import PRESETS, Preset, simulate_study
from msklabel.io.chemical_shift import fat_shift_pixels
from msklabel.kneeseg.automatic import load_segmenter, segment_knee
from msklabel.labels import BONES, CARTILAGE_PLATES, MENISCI, KneeLabel
from msklabel.segment.overlap import dice
from msklabel.volume import Volume

STRUCTURES = (*BONES, *CARTILAGE_PLATES, *MENISCI)
ROLLED = (KneeLabel.FEMUR, KneeLabel.FEMORAL_CARTILAGE)
FC = KneeLabel.FEMORAL_CARTILAGE


def shifted(spec: Preset, shift: str) -> Preset:
    """``spec`` with the fat shift ``shift`` (see the module's usage)."""
    if shift == "preset":
        return spec
    if shift == "double":
        return replace(spec, bandwidth_hz_per_pixel=spec.bandwidth_hz_per_pixel / 2)
    pixels = float(shift)
    if pixels == 0:
        return replace(spec, chemical_shift=False)
    unit = fat_shift_pixels(spec.field_t, 1.0)  # pixels at 1 Hz/px
    return replace(spec, bandwidth_hz_per_pixel=unit / pixels)


def best_roll(predicted: np.ndarray, truth: np.ndarray, reach: int) -> tuple[int, float]:
    """The roll of ``predicted`` along the rows (axis 1) within +-``reach`` that maximises
    its Dice with ``truth``, and that Dice."""
    scores = {r: dice(np.roll(predicted, r, axis=1), truth) for r in range(-reach, reach + 1)}
    roll = max(scores, key=lambda r: (scores[r], -abs(r)))
    return roll, scores[roll]


def plate_figures(labels: Volume) -> tuple[float, float]:
    """Volume (cm3) and mean thickness (mm) of the femoral cartilage in ``labels``."""
    voxel = float(np.prod(labels.spacing))
    volume = float((np.asarray(labels.array) == FC).sum()) * voxel / 1000.0
    thickness = plate_thickness(labels, FC, KneeLabel.FEMUR).summary().mean
    return volume, float(thickness)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", nargs="+", default=["clinical-3t", "clinical-1.5t"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--shifts", nargs="+", default=["preset", "0", "0.9", "double"])
    parser.add_argument("--weights", default=None, help="default: the shipped weights")
    parser.add_argument("--reach", type=int, default=6, help="largest roll tried (rows)")
    parser.add_argument("--slices", type=int, default=None)
    parser.add_argument("--matrix", type=int, default=None)
    args = parser.parse_args()
    for name in args.presets:
        if name not in PRESETS:
            parser.error(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    segmenter = load_segmenter(args.weights) if args.weights else load_segmenter()
    header = (
        "| preset | seed | shift px | bandwidth Hz/px | "
        + " | ".join(s.key for s in STRUCTURES)
        + " | femur roll, Dice | FC roll, Dice | FC cm3 pred / truth | FC mm pred / truth |"
    )
    tqdm.write(header + "\n|" + "---|" * (len(STRUCTURES) + 8))
    jobs = [(n, s, h) for n in args.presets for s in args.seeds for h in args.shifts]
    for name, seed, shift in tqdm(jobs, desc="studies", unit="study"):
        spec = shifted(PRESETS[name], shift)
        start = time.time()
        study = simulate_study(spec, seed, slices=args.slices, matrix=args.matrix)
        labels = segment_knee(study.echoes, segmenter, "left", progress=False).labels
        predicted, truth = np.asarray(labels.array), np.asarray(study.truth.array)
        values = " | ".join(f"{dice(predicted == s, truth == s):.2f}" for s in STRUCTURES)
        rolls = " | ".join(
            "{:+d}, {:.2f}".format(*best_roll(predicted == s, truth == s, args.reach))
            for s in ROLLED
        )
        (pv, pt), (tv, tt) = plate_figures(labels), plate_figures(study.truth)
        line = (
            f"| {name} | {seed} | {spec.fat_shift:.2f} | {spec.bandwidth_hz_per_pixel:.0f} | "
            f"{values} | {rolls} | {pv:.2f} / {tv:.2f} | {pt:.2f} / {tt:.2f} |"
        )
        tqdm.write(line)
        tqdm.write(f"<!-- {name} seed {seed} shift {shift}: {time.time() - start:.0f} s -->")


if __name__ == "__main__":
    main()
