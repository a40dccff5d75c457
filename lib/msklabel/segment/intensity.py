"""Robust MR intensity windowing: raw values to floats in [0, 1], never through 8 bits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """A linear intensity window: ``low`` maps to 0, ``high`` to 1, values outside are clipped."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not np.isfinite([self.low, self.high]).all() or self.high <= self.low:
            raise ValueError(f"invalid window [{self.low}, {self.high}]")

    @classmethod
    def robust(cls, array: np.ndarray, lower: float = 0.5, upper: float = 99.5) -> Window:
        """The ``lower``-``upper`` percentile window of the non-zero voxels of ``array``.

        MR volumes have a zero background and a few very bright voxels (fat, flow); the
        percentiles of the non-zero voxels give a contrast that does not depend on either.
        """
        if not 0 <= lower < upper <= 100:
            raise ValueError(
                f"percentiles must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}"
            )
        values = np.asarray(array)
        values = values[values != 0] if np.any(values) else values.ravel()
        low, high = (float(v) for v in np.percentile(values, [lower, upper]))
        if high <= low:
            high = low + 1.0
        return cls(low, high)

    def apply(self, array: np.ndarray) -> np.ndarray:
        """``array`` windowed to float32 values in [0, 1]."""
        scaled = (np.asarray(array, dtype=np.float32) - np.float32(self.low)) / np.float32(
            self.high - self.low
        )
        return np.clip(scaled, 0.0, 1.0, out=scaled)
