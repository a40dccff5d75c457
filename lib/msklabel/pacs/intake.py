"""What happens to one received instance, independent of the network: check it, store it
durably and record it, or keep it aside with the reason.

An instance is kept aside (quarantined), and the sender gets a failure status, when its bytes
are not DICOM (``not-dicom``), it cannot be parsed or lacks its UIDs (``malformed``), is not
an image (``non-image``), is encoded in a transfer syntax no installed decoder reads
(``transfer-syntax``), its compressed pixels do not decode (``undecodable``: every frame is
decoded before Success), or its SOP Instance UID is already stored under another study or
series (``conflict``: the first copy stays). Its study, when known, still counts the
arrival, so that the study's job reports it.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import pydicom
from pydicom.datadict import dictionary_has_tag
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder, iter_pixels
from pydicom.uid import UID

from msklabel.pacs.header import InstanceHeader
from msklabel.pacs.status import StatusStore
from msklabel.pacs.storage import InstanceStore, valid_uid

logger = logging.getLogger(__name__)

#: DIMSE status codes returned to the sender.
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000
SOP_CLASS_NOT_SUPPORTED = 0x0122


@dataclass(frozen=True)
class Outcome:
    """The DIMSE status for the sender, and what happened."""

    status: int
    message: str
    new: bool = False


class Rejected(Exception):
    """An instance to keep aside: ``kind`` (see the module) and why."""

    def __init__(self, kind: str, reason: str, status: int = CANNOT_UNDERSTAND) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.status = kind, reason, status


class Intake:
    """Checks, stores and records instances into ``store`` and ``status``."""

    def __init__(self, store: InstanceStore, status: StatusStore, min_free_bytes: int) -> None:
        self.store = store
        self.status = status
        self.min_free_bytes = min_free_bytes

    def receive(self, data: bytes, expected_sop: str | None = None, sender: str = "") -> Outcome:
        """Handle one instance, ``data`` being its DICOM file bytes (preamble and file meta).

        ``expected_sop`` is the SOP Instance UID the sender announced. The returned status
        is Success only once the instance is durably stored and recorded.
        """
        if self.store.free_bytes() < self.min_free_bytes + len(data):
            logger.error("refusing an instance from %s: free space below the watermark", sender)
            return Outcome(OUT_OF_RESOURCES, "free disk space below the configured watermark")
        study = sop = None
        try:
            dataset = _decode(data)
            study, sop = _text(dataset, "StudyInstanceUID"), _text(dataset, "SOPInstanceUID")
            _check(dataset, expected_sop)
            self._check_unique(dataset)
        except Rejected as rejected:
            folder = self.store.quarantine(data, f"{rejected.kind}: {rejected.reason}")
            self.status.record_quarantine(
                study if valid_uid(study or "") else None, sop, rejected.kind, folder,
                rejected.reason,
            )  # fmt: skip
            logger.warning("kept aside in %s (%s): %s", folder, rejected.kind, rejected.reason)
            return Outcome(rejected.status, rejected.reason)
        series = str(dataset.SeriesInstanceUID)
        path, _ = self.store.store(data, study, series, sop)
        new = self.status.record_instance(
            sop, study, series, str(dataset.SOPClassUID), path, InstanceHeader.from_dataset(dataset)
        )
        return Outcome(SUCCESS, "stored" if new else "already stored", new)

    def _check_unique(self, dataset: Dataset) -> None:
        """Refuse a SOP Instance UID already stored under another study or series."""
        stored = self.status.instance_place(str(dataset.SOPInstanceUID))
        if stored is not None and stored != (
            str(dataset.StudyInstanceUID),
            str(dataset.SeriesInstanceUID),
        ):
            raise Rejected(
                "conflict",
                "this SOP Instance UID is already stored under another study or series; "
                "the stored copy is kept",
            )

    def recover(self) -> int:
        """Record stored files the status lacks (a crash between storing and recording);
        how many."""
        known = self.status.known_paths()
        recorded = 0
        for path in self.store.stored_files():
            if str(path) in known:
                continue
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
            recorded += self.status.record_instance(
                str(dataset.SOPInstanceUID), str(dataset.StudyInstanceUID),
                str(dataset.SeriesInstanceUID), str(dataset.SOPClassUID), path,
                InstanceHeader.from_dataset(dataset),
            )  # fmt: skip
        return recorded


def _decode(data: bytes) -> Dataset:
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError:
        raise Rejected(
            "not-dicom", f"not DICOM: no 'DICM' file header ({len(data)} bytes)"
        ) from None
    except Exception as error:  # pydicom raises many types for damaged data
        raise Rejected("malformed", f"cannot parse the data set ({error})") from None
    if not any(dictionary_has_tag(tag) for tag in dataset.keys()):  # noqa: SIM118 (tags)
        raise Rejected(
            "not-dicom",
            f"not DICOM: none of the {len(dataset)} element(s) after the file meta "
            "information is a DICOM attribute",
        )
    return dataset


def _check(dataset: Dataset, expected_sop: str | None) -> None:
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        value = _text(dataset, keyword)
        if not value or not valid_uid(value):
            raise Rejected("malformed", f"{keyword} is missing or not a valid UID: {value!r}")
    if expected_sop and dataset.SOPInstanceUID != expected_sop:
        raise Rejected(
            "malformed",
            f"SOP Instance UID {dataset.SOPInstanceUID} differs from the announced {expected_sop}",
        )
    sop_class = UID(dataset.SOPClassUID)
    if "Image Storage" not in sop_class.name:
        raise Rejected(
            "non-image",
            f"SOP class {sop_class.name} ({sop_class}) is not an image storage class",
            SOP_CLASS_NOT_SUPPORTED,
        )
    syntax = UID(dataset.file_meta.get("TransferSyntaxUID", ""))
    if not _decodable(syntax):
        raise Rejected(
            "transfer-syntax",
            f"no installed decoder reads transfer syntax {syntax.name} ({syntax})",
        )
    _check_pixels(dataset, syntax)


def _decodable(syntax: UID) -> bool:
    if not syntax:
        return False
    if not syntax.is_compressed:
        return True
    try:
        return bool(get_decoder(syntax).is_available)
    except NotImplementedError:
        return False


def _check_pixels(dataset: Dataset, syntax: UID) -> None:
    if "PixelData" not in dataset:
        raise Rejected("malformed", "no Pixel Data")
    try:
        rows, columns = int(dataset.Rows), int(dataset.Columns)
        bits = int(dataset.BitsAllocated)
        samples = int(dataset.get("SamplesPerPixel") or 1)
        frames = int(dataset.get("NumberOfFrames") or 1)
    except (AttributeError, TypeError, ValueError) as error:
        raise Rejected("malformed", f"image attributes missing or invalid ({error})") from None
    if syntax.is_compressed:
        _check_decodes(dataset, syntax)
        return
    expected = (rows * columns * samples * frames * bits + 7) // 8
    held = len(dataset.PixelData)
    if held < expected:
        raise Rejected(
            "malformed",
            f"Pixel Data holds {held} bytes; {rows}x{columns} x {frames} frame(s) of "
            f"{bits}-bit samples need {expected}",
        )


def _check_decodes(dataset: Dataset, syntax: UID) -> None:
    """Decode every frame (one at a time), so that Success means the pixels can be read."""
    try:
        for _ in iter_pixels(dataset):
            pass
    except Exception as error:  # each decoder plugin raises its own types
        first_line = str(error).strip().splitlines()[-1].strip()
        raise Rejected(
            "undecodable", f"{syntax.name} pixel data do not decode ({first_line})"
        ) from None


def _text(dataset: Dataset, keyword: str) -> str | None:
    value = dataset.get(keyword)
    return None if value in (None, "") else str(value).strip()
