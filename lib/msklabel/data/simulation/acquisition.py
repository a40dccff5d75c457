"""From tissue signal to a reconstructed image: smooth fields, k-space truncation (Gibbs
ringing), the fat-water chemical shift along the readout (its size:
:func:`msklabel.io.chemical_shift.fat_shift_pixels`), and complex Gaussian noise in
k-space whose magnitude image is Rician."""

from __future__ import annotations

import numpy as np


def smooth_field(points: np.ndarray, coefficients: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """A second-order polynomial field at ``points [..., 3]`` (coordinates relative to
    ``centre`` over 60 mm): ``coefficients`` weigh x, y, z, x^2, y^2, z^2, xy, yz, xz."""
    x, y, z = np.moveaxis((points - centre) / 60.0, -1, 0)
    terms = np.stack([x, y, z, x * x, y * y, z * z, x * y, y * z, x * z], -1)
    return terms @ coefficients


def random_coefficients(rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """Coefficients of :func:`smooth_field` giving variations of about ``amplitude``."""
    return rng.normal(0.0, amplitude / 2.0, 9)


def acquire(
    water: np.ndarray, fat: np.ndarray, acquired: tuple[int, int], matrix: int, shift: float
) -> np.ndarray:
    """The complex image ``[matrix, matrix]`` reconstructed from the central ``acquired``
    (readout along rows, phase along columns) k-space samples of ``water + fat`` given on a
    finer grid ``[rows, columns]`` of the same field of view; fat is displaced by ``shift``
    acquired pixels along the readout. Mean intensity is preserved."""
    rows, columns = water.shape
    n_ro, n_pe = acquired
    if rows < n_ro or columns < n_pe:
        raise ValueError(f"fine grid {water.shape} coarser than the acquisition {acquired}")
    k_ro = np.fft.fftfreq(rows) * rows  # cycles per field of view
    phase = np.exp(-2j * np.pi * k_ro * shift / n_ro)[:, None]
    spectrum = (np.fft.fft2(water) + np.fft.fft2(fat) * phase) / (rows * columns)
    kept = np.zeros((matrix, matrix), complex)
    ro = _central(n_ro)
    pe = _central(n_pe)
    kept[np.ix_(ro % matrix, pe % matrix)] = spectrum[np.ix_(ro % rows, pe % columns)]
    return np.fft.ifft2(kept) * matrix * matrix


def kspace_noise(
    rng: np.random.Generator, acquired: tuple[int, int], matrix: int, sigma: float
) -> np.ndarray:
    """Complex noise on the acquired k-space samples, reconstructed: image-domain standard
    deviation ``sigma`` per real and imaginary part (correlated as the truncation makes it)."""
    n_ro, n_pe = acquired
    scale = sigma / np.sqrt(n_ro * n_pe)
    kept = np.zeros((matrix, matrix), complex)
    index = np.ix_(_central(n_ro) % matrix, _central(n_pe) % matrix)
    kept[index] = scale * (
        rng.standard_normal((n_ro, n_pe)) + 1j * rng.standard_normal((n_ro, n_pe))
    )
    return np.fft.ifft2(kept) * matrix * matrix


def _central(count: int) -> np.ndarray:
    """Signed k-space indices of the ``count`` central samples."""
    return np.arange(count) - count // 2
