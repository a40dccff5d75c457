"""A DICOMweb datastore (e.g. Orthanc) of MR series whose final labels go back as DICOM SEG.

Unlike MONAI Label's own, it searches MR series (any QIDO filter), converts a series with
msklabel's reader (a multi-echo series becomes its first echo, geometry exact), and writes a
final label as a BINARY SEG with highdicom, stored by STOW-RS: no dcmqi, nothing downloaded.
It logs in as ``auth`` says (:func:`msklabel.labeling.studies.studies_login`: MONAI Label's
own DICOMweb login settings), for every search, retrieval and store.
"""

from __future__ import annotations

import logging
import os
import pathlib
import tempfile
from typing import Any

from monailabel.datastore.dicom import DICOMWebDatastore
from monailabel.datastore.local import LocalDatastore
from monailabel.datastore.utils.convert import binary_to_image
from monailabel.datastore.utils.dicom import dicom_web_download_series
from monailabel.interfaces.datastore import DefaultLabelTag

from lib.datastore.safe import SafeIdsMixin
from msklabel.dicomweb import DicomWebAuth, dicomweb_client
from msklabel.labeling.labelset import LabelSet
from msklabel.labeling.series import label_segmentation, seg_to_nifti, write_series_nifti

logger = logging.getLogger(__name__)


class MskDicomWebDatastore(SafeIdsMixin, DICOMWebDatastore):
    """Series found by ``search_filter`` on ``url``, logged in as ``auth``; final labels stored
    there as SEG. A login whose secret is not in the environment fails here, at the start."""

    def __init__(
        self,
        url: str,
        search_filter: dict[str, Any],
        labelset: LabelSet,
        cache_path: str | None = None,
        auth: DicomWebAuth | None = None,
    ) -> None:
        self.labelset = labelset
        client = dicomweb_client(url, auth)
        super().__init__(client, search_filter, cache_path, convert_to_nifti=True)

    def _series_dir(self, kind: str, series_id: str) -> str:
        folder = os.path.join(self._datastore.image_path(), f".{kind}", series_id)
        if not os.path.isdir(folder) or not os.listdir(folder):
            dicom_web_download_series(None, series_id, folder, self._client)
        return folder

    def get_image_uri(self, image_id: str) -> str:
        if image_id not in self._datastore.objects:
            with tempfile.TemporaryDirectory() as scratch:
                nifti = os.path.join(scratch, f"{image_id}.nii.gz")
                write_series_nifti(self._series_dir("series", image_id), nifti)
                LocalDatastore.add_image(self, image_id, nifti, self._dicom_info(image_id))
        return LocalDatastore.get_image_uri(self, image_id)

    def get_label_uri(self, label_id: str, label_tag: str, image_id: str = "") -> str:
        if label_tag != DefaultLabelTag.FINAL or not image_id:
            return LocalDatastore.get_label_uri(self, label_id, label_tag)
        held = LocalDatastore.get_label_info(self, image_id, label_tag)
        if held.get("SeriesInstanceUID") == label_id:  # this SEG is already the local label
            return LocalDatastore.get_label_uri(self, image_id, label_tag)
        with tempfile.TemporaryDirectory() as scratch:
            nifti = os.path.join(scratch, f"{image_id}.nii.gz")
            seg_dir = self._series_dir("seg", label_id)
            seg_file = os.path.join(seg_dir, sorted(os.listdir(seg_dir))[0])
            structures = self.labelset.structures()
            seg_to_nifti(seg_file, self._series_dir("series", image_id), nifti, structures)
            LocalDatastore.save_label(self, image_id, nifti, label_tag, self._dicom_info(label_id))
        return LocalDatastore.get_label_uri(self, image_id, label_tag)

    def save_label(
        self,
        image_id: str,
        label_filename: str,
        label_tag: str,
        label_info: dict[str, Any],
        label_id: str = "",
    ) -> str:
        self.get_image_uri(image_id)
        converted = ""
        if "".join(pathlib.Path(label_filename).suffixes) == ".bin":  # OHIF's raw mask
            converted = label_filename = binary_to_image(
                LocalDatastore.get_image_uri(self, image_id), label_filename
            )
        try:
            if label_tag == DefaultLabelTag.FINAL:
                seg = label_segmentation(
                    self._series_dir("series", image_id),
                    label_filename,
                    self._structures(label_info),
                )
                self._client.store_instances([seg])
                logger.info("stored a DICOM SEG of %d segments", len(seg.SegmentSequence))
                # MONAI Label caches the labeled series for hours: this one is labeled now.
                DICOMWebDatastore.get_labeled_images.cache_clear()
                label_info = {
                    **label_info,
                    "SeriesInstanceUID": seg.SeriesInstanceUID,
                    "SOPInstanceUID": seg.SOPInstanceUID,
                    "StudyInstanceUID": seg.StudyInstanceUID,
                }
            return LocalDatastore.save_label(self, image_id, label_filename, label_tag, label_info)
        finally:
            if converted:
                os.unlink(converted)

    def _structures(self, label_info: dict[str, Any]) -> dict[int, str]:
        """Label value -> structure key: the viewer's ``label_info`` names, else the label set."""
        named = label_info.get("label_info") or []
        found = {
            int(item["idx"]): self.labelset.structures()[self.labelset.value(item["name"])]
            for item in named
            if isinstance(item, dict) and "idx" in item and item.get("name") in self.labelset
        }
        return found or self.labelset.structures()
