"""A synthetic triage cohort whose knees have images, and the images carry a finding.

The tabular cohort (:func:`~msklabel.clinical.cohort.synthetic_triage_cohort`) draws every
finding from the biomarkers, so images could add nothing to them. Here the "other" finding
is a joint effusion (:data:`~msklabel.clinical.cohort.EFFUSION`): the biomarkers explain
part of its probability, and each knee with it gets fluid :data:`EFFUSION_MM` deep around
its cartilage and menisci drawn into its image by the MR simulation
(:func:`msklabel.data.simulation.simulate_study`, ``effusion_mm``). Every knee is its own
simulated anatomy (pose, size, deformation, soft tissue, coil and noise); ``pd-fatsat``, a
fat-saturated proton-density sequence, shows fluid bright, as effusions are read clinically.

The images do not carry the table's biomarker values (their cartilage is the simulation's):
they carry the effusion, which is what image features can add to the biomarkers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from msklabel.data.simulation import simulate_study
from msklabel.features import Embedder, EncoderEmbedder, save_embedding
from msklabel.volume import Volume

from .cohort import EFFUSION, FINDINGS, finding_column, synthetic_triage_cohort
from .features import KNEE

#: Depth (mm) of an effusion, drawn uniformly for each knee that has one.
EFFUSION_MM = (2.0, 6.0)
#: The column holding each knee's effusion depth (0: none).
EFFUSION_COLUMN = "effusion_mm"


def synthetic_imaging_cohort(n_subjects: int, seed: int = 0) -> pd.DataFrame:
    """The triage cohort of ``n_subjects`` (two knees each) whose "other" finding is a joint
    effusion, with each knee's effusion depth in :data:`EFFUSION_COLUMN`."""
    table = synthetic_triage_cohort(n_subjects, seed, {**FINDINGS, "other": EFFUSION})
    depth = np.random.default_rng([seed, 24]).uniform(*EFFUSION_MM, len(table))
    table[EFFUSION_COLUMN] = np.where(table[finding_column("other")] == 1, depth, 0.0).round(2)
    return table


def knee_images(
    table: pd.DataFrame,
    seed: int = 0,
    *,
    preset: str = "pd-fatsat",
    slices: int = 3,
    matrix: int = 128,
    progress: bool = False,
) -> Iterator[tuple[str, Volume]]:
    """``(knee id, image)`` per row of an imaging cohort: ``slices`` central slices of
    ``preset`` on a ``matrix`` grid, anatomy ``seed``-th of its kind per row, with the row's
    effusion drawn in."""
    rows = zip(table[KNEE], table[EFFUSION_COLUMN], strict=True)
    for i, (knee, effusion) in enumerate(
        tqdm(rows, desc="simulating knees", total=len(table), unit="knee", disable=not progress)
    ):
        study = simulate_study(
            preset, seed * 1_000_003 + i, slices=slices, matrix=matrix, effusion_mm=effusion
        )
        yield str(knee), study.echoes[0]


def embed_knees(
    images: Iterator[tuple[str, Volume]],
    embedder: Embedder | EncoderEmbedder,
    out_dir: str | os.PathLike[str],
) -> list[Path]:
    """Embed every image and save it as ``out_dir/<knee id>/`` (:func:`save_embedding`),
    the folder layout ``--embeddings`` of ``msklabel triage`` reads."""
    out = Path(out_dir)
    return [
        save_embedding(embedder.embed(volume), out / knee, {"knee_id": knee}).parent
        for knee, volume in images
    ]
