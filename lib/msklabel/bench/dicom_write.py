"""Row family 6: writing the DICOM SEG and SR of a 160 x 384 x 384 volume with 6 segments,
against pydicom packing and writing the same pixel bytes (the work no SEG writer can skip)."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from msklabel.bench.context import BenchContext
from msklabel.bench.measure import timings
from msklabel.bench.row import Row
from msklabel.labels import KneeLabel
from msklabel.volume import Volume

FAMILY = "dicom"
SHAPE = (160, 384, 384)
#: The six segments, each an ellipsoid: (centre, semi-axes) in voxels.
SEGMENTS = {
    KneeLabel.FEMUR: ((80, 120, 192), (60, 110, 90)),
    KneeLabel.TIBIA: ((80, 290, 192), (55, 80, 80)),
    KneeLabel.PATELLA: ((80, 140, 60), (25, 40, 20)),
    KneeLabel.FEMORAL_CARTILAGE: ((80, 232, 192), (55, 6, 80)),
    KneeLabel.MEDIAL_TIBIAL_CARTILAGE: ((50, 212, 192), (20, 5, 40)),
    KneeLabel.LATERAL_TIBIAL_CARTILAGE: ((110, 212, 192), (20, 5, 40)),
}


def label_array(shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    """A label map of ``shape`` holding the six ellipsoids of :data:`SEGMENTS`."""
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    labels = np.zeros(shape, np.uint8)
    for label, (centre, axes) in SEGMENTS.items():
        inside = sum(((g - c) / a) ** 2 for g, c, a in zip(grid, centre, axes, strict=True)) <= 1
        labels[inside] = label
    return labels


def source_series(context: BenchContext) -> Volume:
    """A 160-slice 384 x 384 MR series written to disk and read back (the SEG's source)."""
    from msklabel.io import read_volumes
    from msklabel.io.dicom_write import write_mr_series

    affine = np.diag([1.0, 0.4, 0.4, 1.0])
    image = np.random.default_rng(0).integers(0, 4000, SHAPE, dtype=np.uint16)
    folder = context.workdir / "seg-source"
    write_mr_series([Volume(image, affine, echo_time=30.0, modality="MR")], folder)
    return read_volumes(folder)[0]


def write_seg_sr(labels: Volume, sources: list[Dataset], folder) -> None:
    """What the pipeline does after segmenting: make and save the SEG and its TID 1500 SR."""
    from msklabel.biomarkers.measurement import Measurement, Measurements
    from msklabel.dicom.seg import make_segmentation
    from msklabel.dicom.sr import make_measurement_report

    seg = make_segmentation(labels, sources)
    seg.save_as(folder / "seg.dcm")
    volumes = Measurements(
        Measurement(KneeLabel(value).key, "volume", float(count) * labels.voxel_volume)
        for value, count in zip(*np.unique(labels.array, return_counts=True), strict=True)
        if value
    )
    make_measurement_report(volumes, seg, sources).save_as(folder / "sr.dcm")


def write_same_bytes(labels: np.ndarray, path) -> None:
    """pydicom writing the SEG's pixels: a bit-packed frame per non-empty slice and segment."""
    frames = [
        labels[k] == value
        for value in SEGMENTS
        for k in range(labels.shape[0])
        if np.any(labels[k] == value)
    ]
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SOPInstanceUID = generate_uid()
    dataset.BitsAllocated = 1
    dataset.PixelData = np.packbits(np.stack(frames), bitorder="little").tobytes()
    dataset.save_as(path, enforce_file_format=False)


def dicom_write_rows(context: BenchContext) -> list[Row]:
    from msklabel.dicom.seg import read_source_images

    volume = source_series(context)
    sources = read_source_images(volume)
    labels = volume.with_array(label_array())
    folder = context.workdir / "seg-out"
    folder.mkdir(exist_ok=True)
    repeats = 1 if context.settings.quick else 2
    ours = timings(lambda: write_seg_sr(labels, sources, folder), repeats, warmup=0)
    floor = timings(lambda: write_same_bytes(labels.array, folder / "raw.dcm"), repeats)
    return [
        Row(
            FAMILY,
            "SEG + SR writing, 160x384x384, 6 segments",
            "s",
            float(np.median(ours)),
            "pydicom packing and writing the same frames",
            float(np.median(floor)),
            note="highdicom BINARY SEG and TID 1500 SR (volumes), both saved; source headers "
            "already read",
        )
    ]
