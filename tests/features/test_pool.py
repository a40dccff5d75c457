"""Similar-case search and diverse picking on a pool of simulated knees, LiteMedSAM's encoder.

The pool: 20 simulated subjects (seeds, each its own anatomy) x 4 echoes of one
multi-echo acquisition (TE 10 and 20 ms: proton-density weighted; 50 and 60 ms: T2
weighted), the central slice on a 128 matrix: 80 knees in 40 seed x contrast groups.
``pytest tests/features/test_pool.py -s`` prints the measured figures.
"""

from __future__ import annotations

import random
import statistics

import numpy as np
import pytest

from msklabel.features import load_embedder
from msklabel.features.pool import own_anatomy_hits, simulated_pool
from msklabel.labeling.active import choose_diverse, choose_random, picks_to_cover

pytestmark = pytest.mark.slow

SEEDS = range(20)


@pytest.fixture(scope="module")
def pool(litemedsam):
    """The pool's members and their study vectors (rows in member order)."""
    from msklabel.segment import Segmenter

    members = simulated_pool(SEEDS, slices=1)
    embedder = load_embedder(segmenter=Segmenter(litemedsam))
    return members, np.stack([embedder.embed(member.volume).study for member in members])


def test_search_finds_each_knees_own_anatomy_at_the_other_contrast(pool):
    members, vectors = pool
    hits = own_anatomy_hits(vectors, members, k=5)
    print(f"\nown anatomy at the other contrast in the top 5: {hits.mean():.1%} of {len(hits)}")
    for contrast in ("pd", "t2"):
        mine = [member.contrast == contrast for member in members]
        print(f"  {contrast} queries: {hits[mine].mean():.1%}")
    assert len(members) == 80 and len({member.group for member in members}) == 40
    assert hits.mean() >= 0.9


def test_diverse_covers_the_groups_with_fewer_picks_than_random(pool):
    members, vectors = pool
    names = [member.name for member in members]
    groups = {member.name: member.group for member in members}
    by_name = dict(zip(names, vectors, strict=True))
    diverse, drawn = [], []
    for start in range(20):
        rng = random.Random(start)
        first = rng.choice(names)
        diverse.append(
            picks_to_cover(groups, lambda labeled: choose_diverse(by_name, labeled).image, first)
        )
        drawn.append(
            picks_to_cover(
                groups,
                lambda labeled, rng=rng: (
                    choose_random([n for n in names if n not in labeled], rng).image
                ),
                first,
            )
        )
    print(
        f"\npicks until all 40 groups are labeled, median of 20 starts: diverse "
        f"{statistics.median(diverse)}, random {statistics.median(drawn)} "
        f"(diverse {min(diverse)}..{max(diverse)}, random {min(drawn)}..{max(drawn)})"
    )
    assert statistics.median(diverse) < statistics.median(drawn)
