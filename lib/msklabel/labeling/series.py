"""DICOM series and labels for PACS-backed datastores: the volume to label, SEG in and out."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydicom.dataset import Dataset

from msklabel.io import read_echoes
from msklabel.io.nifti import write_nifti
from msklabel.volume import Volume


def series_volume(dicom_dir: str | os.PathLike[str]) -> Volume:
    """The volume to label in a downloaded series: its first echo if it has several."""
    return read_echoes(dicom_dir)[0]


def write_series_nifti(dicom_dir: str | os.PathLike[str], path: str | os.PathLike[str]) -> Volume:
    """Write :func:`series_volume` of ``dicom_dir`` as NIfTI at ``path``; returns the volume."""
    volume = series_volume(dicom_dir)
    write_nifti(volume, path)
    return volume


def label_segmentation(
    dicom_dir: str | os.PathLike[str],
    label_file: str | os.PathLike[str],
    structures: Mapping[int, str],
) -> Dataset:
    """A BINARY DICOM SEG of ``label_file`` referencing the series in ``dicom_dir``."""
    # Imported here: highdicom and the results stack cost the server ~25 MiB, for saves only.
    from msklabel.dicom.seg import make_segmentation, read_source_images
    from msklabel.results.study import read_labels

    volume = series_volume(dicom_dir)
    labels = read_labels(label_file, volume)
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
    from msklabel.dicom.seg import read_seg_labels  # here: highdicom only for SEG reads

    write_nifti(read_seg_labels(seg_file, series_volume(dicom_dir), structures=structures), path)
