"""Area-weighted summary statistics of values sampled over a surface."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Percentiles reported for every distribution (e.g. thickness), in percent.
PERCENTILES = (5, 25, 50, 75, 95)


@dataclass(frozen=True)
class Summary:
    """Weighted mean, standard deviation, extremes and percentiles of a set of values."""

    mean: float
    sd: float
    minimum: float
    maximum: float
    percentiles: dict[int, float]
    count: int

    @classmethod
    def of(cls, values: np.ndarray, weights: np.ndarray | None = None) -> Summary:
        """Summarise ``values``, each counted with ``weights`` (e.g. the area it stands for)."""
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0:
            raise ValueError("no value to summarise")
        weights = (
            np.ones_like(values) if weights is None else np.asarray(weights, np.float64).ravel()
        )
        if weights.shape != values.shape or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError("weights must be non-negative, one per value, not all zero")
        mean = float(np.average(values, weights=weights))
        sd = float(np.sqrt(np.average((values - mean) ** 2, weights=weights)))
        order = np.argsort(values)
        cumulative = np.cumsum(weights[order])
        cumulative = (cumulative - 0.5 * weights[order]) / cumulative[-1]
        percentiles = {
            p: float(np.interp(p / 100.0, cumulative, values[order])) for p in PERCENTILES
        }
        return cls(
            mean=mean,
            sd=sd,
            minimum=float(values.min()),
            maximum=float(values.max()),
            percentiles=percentiles,
            count=int(values.size),
        )
