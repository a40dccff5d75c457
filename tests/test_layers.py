"""Imports point down: each package of ``lib/msklabel`` imports only its own layer and the
layers below it (README, Layout), and only the benchmark harness imports test helpers.
Relative imports count as well as absolute ones, and a package missing from :data:`LAYERS`
fails the check."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "lib" / "msklabel"

#: Bottom to top. A package may import packages of its own layer and of lower layers.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(layer.split())
    for layer in (
        "__init__ errors labels volume compat device",
        "io security ports dicomweb",
        "data",
        "segment",
        "detect kneeseg features",
        "biomarkers",
        "clinical",
        "dicom",
        "results evaluation labeling",
        "pacs demo serve bench cli",
    )
)
#: Helpers for tests (real Orthanc, listener processes): only the benchmark harness, which
#: runs the same real components, may import them.
TEST_HELPERS = "testing"
HARNESS = "bench"


def _package(path: Path, library: Path = LIBRARY) -> str:
    parts = path.relative_to(library).parts
    return parts[0].removesuffix(".py")


def _imported_packages(path: Path, library: Path = LIBRARY) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            module = _absolute(node, path, library)
            names = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "msklabel" and len(parts) > 1 and not parts[1].startswith("__"):
                found.add(parts[1])
    return found


def _absolute(node: ast.ImportFrom, path: Path, library: Path) -> str:
    """The module ``node`` imports from, made absolute (``from ..dicom import sr`` in
    ``results/study.py``: ``msklabel.dicom``)."""
    if node.level == 0:
        return node.module or ""
    package = ["msklabel", *path.relative_to(library).parent.parts]
    return ".".join([*package[: len(package) - node.level + 1], *filter(None, [node.module])])


def _upward(library: Path) -> list[str]:
    """Each import in ``library`` of a package of a higher layer, as ``file imports package``."""
    upward = []
    for path in sorted(library.rglob("*.py")):
        package = _package(path, library)
        if package == TEST_HELPERS:
            continue
        for imported in sorted(_imported_packages(path, library) - {package, TEST_HELPERS}):
            if _layer(imported) > _layer(package):
                upward.append(f"{path.relative_to(library)} imports msklabel.{imported}")
    return upward


def _layer(package: str) -> int:
    for index, layer in enumerate(LAYERS):
        if package in layer:
            return index
    raise AssertionError(f"package {package!r} is in no layer of tests/test_layers.py")


def test_every_import_points_down() -> None:
    upward = _upward(LIBRARY)
    assert not upward, "\n".join(upward)


def test_the_check_sees_absolute_relative_and_unassigned_imports(tmp_path: Path) -> None:
    library = tmp_path / "msklabel"
    (library / "biomarkers").mkdir(parents=True)
    (library / "biomarkers" / "knee.py").write_text(
        "from msklabel.volume import Volume\n"
        "from . import masks\n"
        "from msklabel.dicom import sr\n"
        "from ..results import study\n"
        "import msklabel.pacs.header\n"
    )
    assert _upward(library) == [
        f"biomarkers/knee.py imports msklabel.{package}" for package in ("dicom", "pacs", "results")
    ]
    (library / "biomarkers" / "knee.py").write_text("from ..newpackage import thing\n")
    with pytest.raises(AssertionError, match="'newpackage' is in no layer"):
        _upward(library)


def test_only_the_benchmark_harness_imports_test_helpers() -> None:
    importing = [
        str(path.relative_to(LIBRARY))
        for path in sorted(LIBRARY.rglob("*.py"))
        if _package(path) not in (TEST_HELPERS, HARNESS)
        and (TEST_HELPERS in _imported_packages(path) or "testing" in path.stem)
    ]
    assert not importing, importing
