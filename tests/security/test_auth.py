from pathlib import Path

import pytest

from msklabel.errors import InputError
from msklabel.security.auth import TOKEN_ENV, read_token


def test_the_token_file_wins_over_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment-0123")
    (tmp_path / "token").write_text("from-the-file-0123456789\nignored\n")
    assert read_token(tmp_path / "token") == "from-the-file-0123456789"
    assert read_token() == "from-the-environment-0123"
    monkeypatch.delenv(TOKEN_ENV)
    assert read_token() is None


@pytest.mark.parametrize("content", ["", "short\n"])
def test_a_short_token_is_refused_naming_the_file(tmp_path: Path, content: str) -> None:
    (tmp_path / "token").write_text(content)
    with pytest.raises(InputError, match=r"token: the token must have at least 16 characters"):
        read_token(tmp_path / "token")


def test_a_missing_token_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing: cannot read the token file"):
        read_token(tmp_path / "missing")
