"""Would LiteMedSAM, prompted by the knee network, draw the bones better than the network?

Usage: python scripts/sam_refine_bones.py [--structures PATELLA FEMUR TIBIA]
[--studies real clinical-3t:44 ...] [--overlay FILE.png]

For each study (``real``: the sample knee; ``PRESET:SEED``: a held-out simulated study written
as DICOM and read back) the shipped knee network segments every structure; then, per
structure, LiteMedSAM (packaged weights, second echo where there are several) answers:
- *per slice*: a box around the network's mask (2 px margin) on every slice where it has at
  least 20 pixels (the propagation's seed rule for a loose box);
- *+ extension*: those answers carried on past the network's first and last slices by the
  box propagation (:func:`msklabel.segment.propagate.propagate_boxes`, default stop rule);
- *one seed*: the propagation from the network's largest slice alone;
- *union*: the network's mask or the extension's.
It prints per study and structure each reading's Dice against the truth (simulated studies)
and voxel count, then the pixels per slice. ``--overlay`` writes the first study's first
structure, network (green) and extension (red), on its slices and their neighbours.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from msklabel.data.sample import fetch_sample
from msklabel.data.simulation import simulate_study, write_study
from msklabel.io import read_echoes
from msklabel.kneeseg.automatic import load_segmenter, segment_knee
from msklabel.labels import KneeLabel
from msklabel.segment import Box, Segmenter, load_backend
from msklabel.segment.engine import Session
from msklabel.segment.overlap import dice
from msklabel.segment.prompts import SlicePrompt
from msklabel.segment.propagate import StopRule, filled, propagate_boxes, seed_answer
from msklabel.volume import Volume

#: Fewest pixels of the network's mask on a slice for it to seed a box there.
MIN_PIXELS = 20


def readings(network_mask: np.ndarray, session: Session, rule: StopRule) -> dict[str, np.ndarray]:
    """The network's mask and LiteMedSAM's readings of it (module docstring)."""
    slices = [k for k in range(network_mask.shape[0]) if network_mask[k].sum() >= MIN_PIXELS]
    seeds = {}
    for k in slices:
        box = Box.around(network_mask[k], k, 2.0)
        seeds[k] = filled(seed_answer(k, SlicePrompt.of_box(box), session.predict_slice, rule))
    largest = max(slices, key=lambda k: network_mask[k].sum())
    answers = {
        "per slice": seeds,
        "+ extension": propagate_boxes(seeds, network_mask.shape[0], session.predict_slice, rule),
        "one seed": propagate_boxes(
            {largest: seeds[largest]}, network_mask.shape[0], session.predict_slice, rule
        ),
    }
    masks = {"network": network_mask}
    for name, answer in answers.items():
        mask = np.zeros_like(network_mask)
        for k, result in answer.items():
            mask[k] = result.mask
        masks[name] = mask
    masks["union"] = network_mask | masks["+ extension"]
    return masks


def studies(names: list[str]):
    for name in names:
        if name == "real":
            yield name, read_echoes(fetch_sample().dicom_dir), None
            continue
        preset, seed = name.split(":")
        study = simulate_study(preset, int(seed))
        with tempfile.TemporaryDirectory() as folder:
            echoes = read_echoes(write_study(study, folder)["dicom"])
        yield name, echoes, study.truth.array


def overlay(image: Volume, masks: dict[str, np.ndarray], path: str) -> None:
    import imageio.v3 as iio

    shown = masks["network"] | masks["+ extension"]
    slices = np.flatnonzero(shown.any(axis=(1, 2)))
    rows, columns = np.nonzero(shown.any(axis=0))
    r0, r1 = max(rows.min() - 30, 0), rows.max() + 30
    c0, c1 = max(columns.min() - 30, 0), columns.max() + 30
    tiles = []
    for k in range(max(slices[0] - 1, 0), min(slices[-1] + 2, image.shape[0])):
        plane = image.array[k, r0:r1, c0:c1].astype(float)
        plane = np.clip(plane / np.percentile(image.array[k], 99.5), 0, 1)
        rgb = np.repeat(plane[..., None], 3, axis=2)
        for name, colour in (("network", (0, 1, 0)), ("+ extension", (1, 0, 0))):
            mask = masks[name][k, r0:r1, c0:c1]
            inner = mask.copy()
            for axis in (0, 1):
                inner &= np.roll(mask, 1, axis) & np.roll(mask, -1, axis)
            rgb[mask & ~inner] = colour
        tiles.append(np.kron(rgb, np.ones((3, 3, 1))))
    while len(tiles) % 4:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.concatenate(
        [np.concatenate(tiles[i : i + 4], axis=1) for i in range(0, len(tiles), 4)]
    )
    iio.imwrite(path, (grid * 255).astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--structures", nargs="+", default=["PATELLA"])
    parser.add_argument("--studies", nargs="+", default=["real"])
    parser.add_argument("--overlay", default=None)
    args = parser.parse_args()
    network = load_segmenter()
    sam = Segmenter(load_backend("litemedsam"))
    first = True
    for name, echoes, truth in studies(args.studies):
        labels = segment_knee(echoes, network, progress=False).labels.array
        image = echoes[1] if len(echoes) > 1 else echoes[0]
        session = sam.session(image)
        for structure in args.structures:
            label = int(KneeLabel[structure])
            masks = readings(labels == label, session, sam.stop_rule)
            print(f"## {name} {KneeLabel(label).key}")
            for reading, mask in masks.items():
                score = f"Dice {dice(mask, truth == label):.3f}, " if truth is not None else ""
                print(f"  {reading:12s} {score}{int(mask.sum())} voxels")
            if truth is not None:
                print(f"  truth        {int((truth == label).sum())} voxels")
            shown = dict(masks) if truth is None else {"truth": truth == label, **masks}
            for reading, mask in shown.items():
                print(f"  {reading:12s} per slice {mask.sum(axis=(1, 2)).tolist()}")
            if first and args.overlay:
                overlay(image, masks, args.overlay)
            first = False


if __name__ == "__main__":
    main()
