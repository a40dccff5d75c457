"""DICOM series and labels for PACS-backed datastores: the volume to label, SEG in and out."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
from pydicom.dataset import Dataset

from msklabel.dicom.seg import make_segmentation, read_seg_labels, read_source_images
from msklabel.errors import InputError
from msklabel.io import read_volumes
from msklabel.io.nifti import read_nifti, write_nifti
from msklabel.volume import Volume


def series_volume(dicom_dir: str | os.PathLike[str]) -> Volume:
    """The volume to label in a downloaded series: its first echo if it has several."""
    volumes = read_volumes(dicom_dir)
    return min(volumes, key=lambda volume: volume.echo_time or 0.0)


def write_series_nifti(dicom_dir: str | os.PathLike[str], path: str | os.PathLike[str]) -> Volume:
    """Write :func:`series_volume` of ``dicom_dir`` as NIfTI at ``path``; returns the volume."""
    volume = series_volume(dicom_dir)
    write_nifti(volume, path)
    return volume


def label_on(reference: Volume, label_file: str | os.PathLike[str]) -> Volume:
    """The label map in ``label_file`` (NIfTI) on ``reference``'s grid, or InputError."""
    labels = read_nifti(label_file)
    if labels.shape != reference.shape:
        raise InputError(
            label_file, f"label shape {labels.shape} is not the image's {reference.shape}"
        )
    if not np.allclose(labels.affine, reference.affine, atol=1e-3):
        raise InputError(label_file, "the label's geometry (affine) is not the image's")
    array = np.rint(labels.array)
    if array.min() < 0 or array.max() > np.iinfo(np.uint16).max:
        raise InputError(label_file, "label values must be integers in 0..65535")
    return reference.with_array(array.astype(np.uint16 if array.max() > 255 else np.uint8))


def label_segmentation(
    dicom_dir: str | os.PathLike[str],
    label_file: str | os.PathLike[str],
    structures: Mapping[int, str],
) -> Dataset:
    """A BINARY DICOM SEG of ``label_file`` referencing the series in ``dicom_dir``."""
    volume = series_volume(dicom_dir)
    labels = label_on(volume, label_file)
    return make_segmentation(
        labels,
        read_source_images(volume),
        structures=structures,
        series_description="msklabel final label",
    )


def seg_to_nifti(
    seg_file: str | os.PathLike[str],
    dicom_dir: str | os.PathLike[str],
    path: str | os.PathLike[str],
    structures: Mapping[int, str],
) -> None:
    """Write the SEG in ``seg_file`` as a NIfTI label map on the grid of ``dicom_dir``."""
    write_nifti(read_seg_labels(seg_file, series_volume(dicom_dir), structures=structures), path)
