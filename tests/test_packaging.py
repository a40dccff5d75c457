"""The package declares what it needs: the wheel holds the shipped models and data, every
third-party import of ``lib/msklabel`` is a declared requirement, and what ``msklabel demo``
and the CLI import needs no extra."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import json
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "lib" / "msklabel"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (found,) = out.glob("msklabel-*.whl")
    return found


@pytest.fixture(scope="module")
def requirements(wheel: Path) -> dict[str | None, set[str]]:
    """Declared distributions (normalised names) per extra (None: the core)."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(archive.read(name).decode())
    declared: dict[str | None, set[str]] = {}
    for line in message.get_all("Requires-Dist") or []:
        requirement, _, marker = line.partition(";")
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)", marker)
        distribution = re.split(r"[<>=!~\[ (]", requirement.strip(), maxsplit=1)[0]
        declared.setdefault(extra.group(1) if extra else None, set()).add(_normal(distribution))
    return declared


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level third-party module names imported anywhere in the library, with the files."""
    found: dict[str, set[str]] = {}
    for path in LIBRARY.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "msklabel":
                    found.setdefault(top, set()).add(str(path.relative_to(LIBRARY)))
    return found


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    owners = metadata.packages_distributions()
    return {module: {_normal(d) for d in owners.get(module, [module])} for module in modules}


def test_the_wheel_holds_the_shipped_models_and_data(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for shipped in (LIBRARY / "kneeseg" / "models", LIBRARY / "detect" / "models",
                    LIBRARY / "clinical" / "models"):  # fmt: skip
        files = [p for p in shipped.iterdir() if p.suffix in {".pt", ".skops", ".md"}]
        assert files, shipped
        for path in files:
            assert str(path.relative_to(LIBRARY.parent)) in names, path.name
    assert "msklabel/data/sample_manifest.json" in names


def test_every_import_of_the_library_is_declared(requirements) -> None:
    declared = set().union(*requirements.values())
    missing = {
        module: sorted(files)
        for module, files in _third_party_imports().items()
        if not _distributions({module})[module] & declared
    }
    assert not missing, f"imported but not declared in setup.cfg: {missing}"


def test_the_demo_and_the_cli_need_no_extra(requirements) -> None:
    probe = (
        "import json, sys; import msklabel.cli, msklabel.demo; "
        "print(json.dumps(sorted({m.split('.')[0] for m in list(sys.modules)})))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", probe], check=True, capture_output=True, text=True
        ).stdout
    )
    third_party = set(loaded) & set(_third_party_imports())
    core = requirements[None]
    needing_extra = {m: d for m, d in _distributions(third_party).items() if not d & core}
    assert not needing_extra, needing_extra
