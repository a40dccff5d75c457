"""Active learning on plain data: how unsure the model is about an image, and which to label.

The uncertainty of an image is one minus the model's mean predicted IoU over the structures
it segments automatically on a few evenly spaced slices near the middle of the volume (where
the joint is). The diverse choice is one step of k-centre greedy over study embeddings
(:mod:`msklabel.features`): the unlabeled image farthest from every labeled one. Each choice
comes with a sentence saying why that image was chosen.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from msklabel.features.embedding import Embedder, StudyEmbedding, unit
from msklabel.segment import Segmentation
from msklabel.volume import Volume


@dataclass(frozen=True)
class Uncertainty:
    """``score`` = 1 - ``mean_iou`` over the sampled ``slices`` (1.0 when nothing was found)."""

    score: float
    mean_iou: float
    slices: tuple[int, ...]
    structures: int


@dataclass(frozen=True)
class Choice:
    """The image to label next and why."""

    image: str
    explanation: str
    uncertainty: float | None = None
    distance: float | None = None


def sampled_indices(total: int, count: int = 3) -> np.ndarray:
    """``count`` evenly spaced slice indices around the middle of ``total`` slices."""
    count = max(1, min(count, total))
    step = max(1, total // (count + 1))
    return (total - step * (count - 1)) // 2 + step * np.arange(count)


def sample_slices(volume: Volume, count: int = 3) -> Volume:
    """The :func:`sampled_indices` slices of ``volume`` as a volume with their geometry."""
    indices = sampled_indices(volume.shape[0], count)
    affine = volume.affine.copy()
    if len(indices) > 1:
        affine[:3, 0] *= indices[1] - indices[0]
    affine[:3, 3] = volume.index_to_patient(np.array([indices[0], 0, 0]))
    return Volume(np.ascontiguousarray(volume.array[indices]), affine)


def embed_sampled(embedder: Embedder, volume: Volume, count: int = 3) -> StudyEmbedding:
    """The study embedding of ``volume`` on its :func:`sample_slices`: the slices the
    uncertainty is measured on, so that one encoder pass serves both."""
    return embedder.embed(sample_slices(volume, count))


def measure_uncertainty(
    segment: Callable[[Volume], Segmentation], volume: Volume, count: int = 3
) -> Uncertainty:
    """How unsure ``segment`` (an automatic segmentation) is about ``volume``."""
    sampled = sample_slices(volume, count)
    result = segment(sampled)
    scores = [np.asarray(values, float) for values in result.scores.values()]
    found = np.concatenate([values[np.isfinite(values)] for values in scores]) if scores else []
    slices = tuple(int(index) for index in sampled_indices(volume.shape[0], count))
    if len(found) == 0:
        return Uncertainty(1.0, 0.0, slices, 0)
    mean = float(np.clip(np.mean(found), 0.0, 1.0))
    structures = sum(bool(np.isfinite(values).any()) for values in scores)
    return Uncertainty(1.0 - mean, mean, slices, structures)


def choose_first(unlabeled: Sequence[str]) -> Choice | None:
    """The first unlabeled image in name order."""
    if not unlabeled:
        return None
    image = sorted(unlabeled)[0]
    return Choice(image, f"first of {len(unlabeled)} unlabeled images in name order")


def choose_random(unlabeled: Sequence[str], rng: random.Random | None = None) -> Choice | None:
    """An unlabeled image drawn at random."""
    if not unlabeled:
        return None
    image = (rng or random.Random()).choice(sorted(unlabeled))
    return Choice(image, f"drawn at random from {len(unlabeled)} unlabeled images")


def choose_least_sure(uncertainties: Mapping[str, Uncertainty]) -> Choice | None:
    """The image with the highest uncertainty, explained against the runner-up."""
    if not uncertainties:
        return None
    ranked = sorted(uncertainties.items(), key=lambda item: (-item[1].score, item[0]))
    image, worst = ranked[0]
    explanation = (
        f"least sure of {len(ranked)} unlabeled images: mean predicted IoU "
        f"{worst.mean_iou:.3f} over {worst.structures} structures on slices "
        f"{list(worst.slices)} (uncertainty {worst.score:.3f})"
    )
    if len(ranked) > 1:
        runner, second = ranked[1]
        explanation += f"; next is {runner} at {second.score:.3f}"
    return Choice(image, explanation, worst.score)


def choose_diverse(vectors: Mapping[str, np.ndarray], labeled: Collection[str]) -> Choice | None:
    """The unlabeled image whose cosine distance to its nearest labeled image is largest (one
    step of k-centre greedy); with nothing labeled, the image nearest the mean of all.

    ``vectors`` holds a study vector for every image, labeled or not.
    """
    labeled = [image for image in sorted(labeled) if image in vectors]
    unlabeled = sorted(set(vectors) - set(labeled))
    if not unlabeled:
        return None
    candidates = unit(np.stack([vectors[image] for image in unlabeled]))
    if not labeled:
        centre = unit(candidates.mean(axis=0))
        best = int(np.argmax(candidates @ centre))
        return Choice(
            unlabeled[best],
            f"nothing labeled yet: the most typical of {len(unlabeled)} images (nearest the "
            "mean study embedding)",
        )
    reference = unit(np.stack([vectors[image] for image in labeled]))
    distances = 1.0 - candidates @ reference.T
    nearest = distances.argmin(axis=1)
    gap = distances[np.arange(len(unlabeled)), nearest]
    ranked = np.lexsort((unlabeled, -gap))
    best = int(ranked[0])
    explanation = (
        f"least like the {len(labeled)} labeled images among {len(unlabeled)} unlabeled: "
        f"cosine distance {gap[best]:.4f} of its study embedding to the nearest labeled "
        f"image, {labeled[nearest[best]]}"
    )
    if len(ranked) > 1:
        runner = int(ranked[1])
        explanation += f"; next is {unlabeled[runner]} at {gap[runner]:.4f}"
    return Choice(unlabeled[best], explanation, distance=float(gap[best]))


def picks_to_cover(
    groups: Mapping[str, object], choose: Callable[[set[str]], str], start: str
) -> int:
    """How many images are labeled, ``start`` first and then as ``choose(labeled)`` picks,
    until every group of ``groups`` (image to group) has a labeled member."""
    labeled = {start}
    wanted = set(groups.values())
    while {groups[image] for image in labeled} != wanted:
        image = choose(labeled)
        if image in labeled:
            raise ValueError(f"the strategy picked {image}, which is labeled already")
        labeled.add(image)
    return len(labeled)
