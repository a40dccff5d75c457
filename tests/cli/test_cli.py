"""The ``msklabel`` console command: every sub-command documents itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from msklabel.cli import build_parser, main

CONSOLE_SCRIPT = Path(sys.executable).with_name("msklabel")


def _subcommand_paths(parser=None, prefix=()):
    parser = parser or build_parser()
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for name, child in action.choices.items():
            yield (*prefix, name)
            yield from _subcommand_paths(child, (*prefix, name))


def test_console_script_lists_the_commands() -> None:
    result = subprocess.run([CONSOLE_SCRIPT, "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name in ("data", "demo", "segment", "measure"):
        assert f"    {name}" in result.stdout


@pytest.mark.parametrize("path", sorted(_subcommand_paths()), ids=" ".join)
def test_every_subcommand_has_help(path: tuple[str, ...], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    assert "usage: msklabel " + " ".join(path) in capsys.readouterr().out


def test_missing_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


def test_input_errors_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-study"
    bogus.write_text("hello")
    result = subprocess.run(
        [CONSOLE_SCRIPT, "measure", str(bogus), "--labels", str(bogus), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(bogus) in result.stderr
