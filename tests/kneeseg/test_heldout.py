"""The shipped knee segmenter on a study of the held-out simulation (docs/simulation.md):
fully automatic Dice per structure against the simulation's truth."""

from __future__ import annotations

import pytest

from msklabel.data.simulation import simulate_study
from msklabel.kneeseg.automatic import default_weights, load_segmenter, segment_knee
from msklabel.labels import BONES, CARTILAGE_PLATES, MENISCI
from msklabel.segment.overlap import dice

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not default_weights().is_file(), reason="no shipped knee weights"),
]

#: Measured on this study with the weights of 2026-12-06 (16 x 256 x 256, seed 11), read
#: over three echo pairs (2026-12-07): femur 0.96, tibia 0.94, patella 0.93 (0.92 since it
#: takes the rim the network is unsure of, 2026-12-08: its patella was already whole), femoral /
#: medial tibial / lateral tibial / patellar cartilage 0.71 / 0.79 / 0.74 / 0.71, medial /
#: lateral meniscus 0.76 / 0.73 (one echo pair: cartilage 0.71 / 0.76 / 0.73 / 0.71, menisci
#: 0.74 / 0.69; the weights of 2026-12-05: cartilage 0.67 / 0.73 / 0.72 / 0.68, menisci
#: 0.72 / 0.69).
BONE_FLOOR = 0.90
CARTILAGE_FLOOR = 0.58
MENISCUS_FLOOR = 0.60


@pytest.fixture(scope="module")
def scores() -> dict[int, float]:
    study = simulate_study("clinical-3t", 11, slices=16, matrix=256)
    labels = segment_knee(study.echoes, load_segmenter(), "left", progress=False).labels.array
    truth = study.truth.array
    return {int(s): dice(labels == s, truth == s) for s in (*BONES, *CARTILAGE_PLATES, *MENISCI)}


def test_held_out_dice_stays_above_its_floors(scores):
    floors = {
        **dict.fromkeys(BONES, BONE_FLOOR),
        **dict.fromkeys(CARTILAGE_PLATES, CARTILAGE_FLOOR),
        **dict.fromkeys(MENISCI, MENISCUS_FLOOR),
    }
    low = {s: round(v, 3) for s, v in scores.items() if v < floors[s]}
    assert not low, low


@pytest.mark.xfail(
    strict=True,
    reason="issue 21 targets not met on the held-out simulation: measured femur 0.96, tibia "
    "0.94, patella 0.92, cartilage 0.71/0.79/0.74/0.71, menisci 0.76/0.73 (this study); "
    "over 2 full-size studies per preset the means are lower (docs/simulation.md)",
)
def test_issue_21_targets(scores):
    targets = {
        **dict.fromkeys(BONES, 0.95),
        **dict.fromkeys(CARTILAGE_PLATES, 0.80),
        **dict.fromkeys(MENISCI, 0.75),
    }
    assert all(scores[s] >= targets[s] for s in targets), scores
