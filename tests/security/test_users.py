from pathlib import Path

import pytest

from msklabel.errors import InputError
from msklabel.security.users import read_users, user_line


def test_a_user_line_holds_a_salted_hash_that_verifies(tmp_path: Path) -> None:
    lines = [user_line("alice", "annotator", "correct horse battery"),
             user_line("bob", "admin", "correct horse battery")]  # fmt: skip
    assert "correct horse" not in "".join(lines)
    assert lines[0].split()[2] != lines[1].split()[2]  # one salt per user
    (tmp_path / "users").write_text("# site users\n" + "\n".join(lines) + "\n")
    users = read_users(tmp_path / "users")
    assert {u.name: u.role for u in users.values()} == {"alice": "annotator", "bob": "admin"}
    assert users["alice"].verify("correct horse battery")
    assert not users["alice"].verify("correct horse batterY")
    assert not users["alice"].verify("x" * 100_000)  # refused unhashed


@pytest.mark.parametrize(
    ("args", "match"),
    [(("../x", "admin", "long enough password"), "user name"),
     (("alice", "root", "long enough password"), "role"),
     (("alice", "admin", "short"), "at least 12")],
)  # fmt: skip
def test_bad_users_are_refused(args: tuple[str, str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        user_line(*args)


@pytest.mark.parametrize(
    ("content", "reason"),
    [("alice admin\n", "line 1: expected NAME ROLE HASH"),
     ("alice root scrypt$131072$8$1$AA==$AA==\n", "line 1: the role is one of"),
     ("alice admin plaintext\n", "line 1: not a scrypt hash"),
     ("alice admin scrypt$16$8$1$AA==$AA==\n", "line 1: not a scrypt hash"),
     ("\n# nobody\n", "names no user")],
)  # fmt: skip
def test_a_bad_users_file_is_named_with_its_line(tmp_path: Path, content: str, reason: str):
    (tmp_path / "users").write_text(content)
    with pytest.raises(InputError, match=reason):
        read_users(tmp_path / "users")
