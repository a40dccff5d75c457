"""A pool of simulated knees that vary in anatomy and contrast, and how well search finds
a knee's own anatomy in it.

Each subject (seed) of the held-out simulation (:mod:`msklabel.data.simulation`) is its own
anatomy (pose, size, elastic deformation, soft tissue). One multi-echo acquisition gives the
same anatomy at several contrasts: the early echoes are proton-density weighted, the late
ones T2 weighted. Each pool member is one echo; its group is (seed, contrast), and within a
group the members differ by echo time and noise. (The analytic phantom,
:mod:`msklabel.data.phantom`, has one anatomy for every seed, so it cannot make this pool.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from msklabel.volume import Volume

#: Echo indices (0-based, ``clinical-3t``: TE 10, 20, 50 and 60 ms) and their contrast.
CONTRASTS = {0: "pd", 1: "pd", 4: "t2", 5: "t2"}


@dataclass(frozen=True)
class PoolMember:
    """One simulated knee: ``seed`` (its anatomy), ``contrast``, echo time and the volume."""

    seed: int
    contrast: str
    echo_time: float
    volume: Volume

    @property
    def name(self) -> str:
        return f"seed{self.seed}_te{self.echo_time:g}"

    @property
    def group(self) -> tuple[int, str]:
        return self.seed, self.contrast


def simulated_pool(
    seeds: Sequence[int],
    *,
    preset: str = "clinical-3t",
    slices: int = 2,
    matrix: int = 128,
    contrasts: dict[int, str] = CONTRASTS,
    progress: bool = False,
) -> list[PoolMember]:
    """``len(seeds) * len(contrasts)`` knees: ``slices`` central slices of ``preset`` on a
    ``matrix`` grid, for every seed and every echo index of ``contrasts``."""
    from msklabel.data.simulation import simulate_study

    echoes = max(contrasts) + 1
    members = []
    for seed in tqdm(seeds, desc="simulating knees", unit="knee", disable=not progress):
        study = simulate_study(preset, seed, slices=slices, matrix=matrix, echoes=echoes)
        for index, contrast in contrasts.items():
            volume = study.echoes[index]
            members.append(PoolMember(seed, contrast, float(volume.echo_time), volume))
    return members


def own_anatomy_hits(vectors: np.ndarray, members: Sequence[PoolMember], k: int = 5) -> np.ndarray:
    """Per member, whether a knee of its seed at another contrast is among the ``k`` pool
    members (itself left out) whose unit ``vectors`` are most similar to its own."""
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    hits = np.zeros(len(members), bool)
    for i, member in enumerate(members):
        nearest = np.argsort(-similarity[i], kind="stable")[:k]
        hits[i] = any(
            members[j].seed == member.seed and members[j].contrast != member.contrast
            for j in nearest
        )
    return hits
