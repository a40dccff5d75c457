from pathlib import Path

import pytest

from msklabel.security.paths import UnsafePathError, check_id, inside_root

HOSTILE = ["../../etc/passwd", "..", "/abs/path", "a\\..\\b", "a\x00b", "%2e%2e%2f", "", ".hidden"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_ids_are_refused(value: str) -> None:
    with pytest.raises(UnsafePathError):
        check_id(value)


def test_plain_id_is_kept() -> None:
    assert check_id("knee_001.nii.gz") == "knee_001.nii.gz"


def test_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafePathError):
        inside_root(root, "link")
    assert inside_root(root, "img.nii.gz") == root.resolve() / "img.nii.gz"
