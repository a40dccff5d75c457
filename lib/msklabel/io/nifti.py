"""NIfTI reading and writing with the exact affine of a :class:`~msklabel.volume.Volume`."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np

from msklabel.errors import InputError
from msklabel.volume import LPS_TO_RAS, Volume


def write_nifti(volume: Volume, path: str | os.PathLike[str]) -> None:
    """Write ``volume`` as NIfTI-1; the array is stored (column, row, slice) with a RAS affine."""
    image = nib.Nifti1Image(
        np.ascontiguousarray(volume.array.transpose(2, 1, 0)), volume.affine_ras
    )
    image.set_qform(volume.affine_ras, code=1)
    image.set_sform(volume.affine_ras, code=1)
    nib.save(image, os.fspath(path))


def read_nifti(path: str | os.PathLike[str]) -> Volume:
    """Read a 3D NIfTI file back into a Volume (array indexed slice, row, column; LPS affine)."""
    try:
        image = nib.load(os.fspath(path))
        data = np.asanyarray(image.dataobj)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except Exception as error:  # nibabel raises many types for damaged files
        raise InputError(path, f"not a readable NIfTI file ({error})") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(path, f"expected a 3D image, got shape {data.shape}")
    affine_lps = LPS_TO_RAS @ image.affine
    return Volume(
        array=np.ascontiguousarray(data.transpose(2, 1, 0)),
        affine=affine_lps[:, [2, 1, 0, 3]],
        source_files=(os.fspath(path),),
    )
