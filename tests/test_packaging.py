"""The package declares what it needs: the wheel holds every module and the shipped models and
data, every third-party import of ``lib/msklabel`` is a requirement the wheel's METADATA declares
for ``msklabel[all]``, every module the wheel ships imports, and what ``msklabel demo`` and the
CLI import needs no extra.

Together these are the fast form of the fresh-venv check (README, The Python stack): ``pip
install 'dist/msklabel-*.whl[all]'`` into an empty venv installs exactly the declared
distributions, so a module fails to import there only if the wheel lacks a file (checked here
from the wheel's listing) or an import is not declared (checked here from the wheel's
Requires-Dist, the current environment mapping each module to its distribution)."""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.metadata as metadata
import json
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from msklabel import compat

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "lib" / "msklabel"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a clean copy of the sources (setuptools reuses a checkout's
    ``build/``, whose stale files would hide a module the package no longer ships)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "lib", source / "lib", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(source)],
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


def _third_party_imports(library: Path = LIBRARY) -> dict[str, set[str]]:
    """Top-level third-party module names imported anywhere in the library, with the files."""
    found: dict[str, set[str]] = {}
    for path in library.rglob("*.py"):
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
                    found.setdefault(top, set()).add(str(path.relative_to(library)))
    return found


def _undeclared(imports: dict[str, set[str]], declared: set[str]) -> dict[str, list[str]]:
    """The imported modules no declared distribution provides, with the files importing them."""
    return {
        module: sorted(files)
        for module, files in imports.items()
        if not _distributions({module})[module] & declared
    }


def _installed_with_all(requirements: dict[str | None, set[str]]) -> set[str]:
    """What ``pip install msklabel[all]`` installs by name: the core and the ``all`` extra."""
    return requirements[None] | requirements["all"]


@functools.cache
def _owners() -> dict[str, list[str]]:
    """The installed distributions providing each top-level module (one scan of the env)."""
    return metadata.packages_distributions()


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    owners = _owners()
    return {module: {_normal(d) for d in owners.get(module, [module])} for module in modules}


def _wheel_modules(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    return sorted(
        name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for name in names
        if name.startswith("msklabel/") and name.endswith(".py")
    )


def test_the_wheel_holds_every_module(wheel: Path) -> None:
    """A folder of modules without ``__init__.py`` is left out of the wheel by ``find:``."""
    in_library = {
        str(path.relative_to(LIBRARY.parent)).removesuffix(".py").removesuffix("/__init__")
        for path in LIBRARY.rglob("*.py")
    }
    assert {name.replace(".", "/") for name in _wheel_modules(wheel)} == in_library


def test_every_module_the_wheel_ships_imports(wheel: Path) -> None:
    failed = {}
    for name in _wheel_modules(wheel):
        try:
            importlib.import_module(name)
        except Exception as error:
            failed[name] = f"{type(error).__name__}: {error}"
    assert not failed, failed


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


def test_the_wheel_installs_the_pydicom_compatibility_hook(wheel: Path) -> None:
    """``msklabel-compat.pth`` at the top of the wheel lands in site-packages (setup.py)."""
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("msklabel-compat.pth").decode() == compat.PTH_LINE


def test_every_import_of_the_library_is_declared(requirements) -> None:
    assert set().union(*(v for k, v in requirements.items() if k != "test")) <= (
        _installed_with_all(requirements)
    ), "an extra holds what the all extra lacks"
    missing = _undeclared(_third_party_imports(), _installed_with_all(requirements))
    assert not missing, f"imported but not declared for msklabel[all] in setup.cfg: {missing}"


def test_an_undeclared_import_is_found(requirements, tmp_path: Path) -> None:
    """The check of the check: an import of an installed but undeclared distribution (PyYAML,
    which MONAI Label brings, imported as ``yaml``), of a test-only one and of one not
    installed at all are each reported; a declared one (scikit-learn as ``sklearn``) is not."""
    (tmp_path / "module.py").write_text(
        "import numpy\nimport yaml\nfrom sklearn.base import clone\nimport pytest\n"
        "import not_a_distribution_anywhere\n"
    )
    found = _undeclared(_third_party_imports(tmp_path), _installed_with_all(requirements))
    assert sorted(found) == ["not_a_distribution_anywhere", "pytest", "yaml"]


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
