"""Durable, idempotent instance storage and the quarantine."""

from __future__ import annotations

from pathlib import Path

import pytest

from msklabel.pacs.storage import InstanceStore, valid_uid


def test_an_instance_is_stored_once_under_its_uids(tmp_path: Path) -> None:
    store = InstanceStore(tmp_path)
    path, new = store.store(b"first", "1.2.3", "1.2.3.4", "1.2.3.4.5")
    assert new and path == tmp_path / "instances/1.2.3/1.2.3.4/1.2.3.4.5.dcm"
    again, new_again = store.store(b"second", "1.2.3", "1.2.3.4", "1.2.3.4.5")
    assert (again, new_again) == (path, False)
    assert path.read_bytes() == b"first"  # the first copy is kept
    assert list(store.stored_files()) == [path]
    assert not list(store.incoming.iterdir())


def test_uids_that_are_not_uids_never_become_paths(tmp_path: Path) -> None:
    store = InstanceStore(tmp_path)
    assert valid_uid("1.2.840.10008.5.1.4.1.1.4") and not valid_uid("../../etc")
    with pytest.raises(ValueError, match="not a valid UID"):
        store.store(b"x", "1.2", "../1", "1.3")
    assert not list(store.stored_files())


def test_quarantine_keeps_the_data_and_the_reason(tmp_path: Path) -> None:
    store = InstanceStore(tmp_path)
    folder = store.quarantine(b"broken", "malformed: no Pixel Data")
    assert folder.parent == store.quarantine_dir
    assert (folder / "instance.dcm").read_bytes() == b"broken"
    assert (folder / "reason.txt").read_text() == "malformed: no Pixel Data\n"


def test_partial_files_of_a_crash_are_removed_at_start(tmp_path: Path) -> None:
    store = InstanceStore(tmp_path)
    (store.incoming / "0123.part").write_bytes(b"half an instance")
    assert store.clean_incoming() == 1
    assert not list(store.incoming.iterdir())
