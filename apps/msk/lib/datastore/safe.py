"""Datastores that refuse unsafe ids: no request reaches a file outside the studies folder.

MONAI Label's datastores join image ids and label tags from requests to folder paths as they
come (``PUT /datastore/image?image=../../x`` writes outside the studies folder). Here every
id and tag from a request must be a plain name (:func:`msklabel.security.paths.check_id`),
and what is written or deleted must resolve inside its folder; anything else is refused with
HTTP 400 before a file is touched.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import HTTPException, status
from monailabel.datastore.local import LocalDatastore

from msklabel.security.paths import UnsafePathError, check_id, inside_root

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _refused(check: Callable[..., T], *args: Any) -> T:
    """``check(*args)``, an unsafe id or path turned into HTTP 400 (the id is not logged)."""
    try:
        return check(*args)
    except UnsafePathError as error:
        logger.warning("refused a datastore request: %s", type(error).__name__)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from error


class SafeIdsMixin:
    """Checks ids, tags and destinations before a :class:`LocalDatastore` method runs.

    Put it first among the bases: ``class Store(SafeIdsMixin, LocalDatastore)``.
    """

    def _plain(self, value: str, what: str) -> str:
        return _refused(check_id, value, what)

    def _inside(self, folder: str, name: str) -> Path:
        return _refused(inside_root, Path(folder), name)

    def add_image(self, image_id: str, image_filename: str, image_info: dict[str, Any]) -> str:
        default_id, ext = self._to_id(os.path.basename(image_filename))
        image_id = self._plain(image_id or default_id, "image id")
        self._inside(self._datastore.image_path(), self._filename(image_id, ext))
        return super().add_image(image_id, image_filename, image_info)

    def remove_image(self, image_id: str) -> None:
        stored = self._datastore.objects.get(self._plain(image_id, "image id"))
        if stored:  # not a symlink out of the folder
            self._inside(self._datastore.image_path(), self._filename(image_id, stored.image.ext))
        super().remove_image(image_id)

    def save_label(
        self,
        image_id: str,
        label_filename: str,
        label_tag: str,
        label_info: dict[str, Any],
        **kw: Any,
    ) -> str:
        self._plain(image_id, "image id")
        self._plain(label_tag, "label tag")
        _, ext = self._to_id(os.path.basename(label_filename))
        self._inside(self._datastore.label_path(label_tag), self._filename(image_id, ext))
        return super().save_label(image_id, label_filename, label_tag, label_info, **kw)

    def remove_label(self, label_id: str, label_tag: str) -> None:
        self._plain(label_tag, "label tag")
        stored = self._datastore.label(self._plain(label_id, "label id"), label_tag)
        if stored:  # not a symlink out of the folder
            folder = self._datastore.label_path(label_tag)
            self._inside(folder, self._filename(label_id, stored.ext))
        super().remove_label(label_id, label_tag)

    def get_image_uri(self, image_id: str) -> str:
        return super().get_image_uri(self._plain(image_id, "image id"))

    def get_image_info(self, image_id: str) -> dict[str, Any]:
        return super().get_image_info(self._plain(image_id, "image id"))

    def get_label_uri(self, label_id: str, label_tag: str, *args: Any) -> str:
        self._plain(label_tag, "label tag")
        return super().get_label_uri(self._plain(label_id, "label id"), label_tag, *args)

    def get_label_info(self, label_id: str, label_tag: str) -> dict[str, Any]:
        self._plain(label_tag, "label tag")
        return super().get_label_info(self._plain(label_id, "label id"), label_tag)


class MskLocalDatastore(SafeIdsMixin, LocalDatastore):
    """MONAI Label's local datastore (a folder of NIfTI images) with safe ids."""
