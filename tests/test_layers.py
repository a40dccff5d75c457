"""Imports point down: each package of ``lib/msklabel`` imports only its own layer and the
layers below it (README, Layout), and only the benchmark harness imports test helpers."""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "lib" / "msklabel"

#: Bottom to top. A package may import packages of its own layer and of lower layers.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(layer.split())
    for layer in (
        "__init__ errors labels volume compat device",
        "io security ports",
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


def _package(path: Path) -> str:
    parts = path.relative_to(LIBRARY).parts
    return parts[0].removesuffix(".py")


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "msklabel" and len(parts) > 1 and not parts[1].startswith("__"):
                found.add(parts[1])
    return found


def _layer(package: str) -> int:
    for index, layer in enumerate(LAYERS):
        if package in layer:
            return index
    raise AssertionError(f"package {package!r} is in no layer of tests/test_layers.py")


def test_every_import_points_down() -> None:
    upward = []
    for path in sorted(LIBRARY.rglob("*.py")):
        package = _package(path)
        if package == TEST_HELPERS:
            continue
        for imported in _imported_packages(path) - {package, TEST_HELPERS}:
            if _layer(imported) > _layer(package):
                upward.append(f"{path.relative_to(LIBRARY)} imports msklabel.{imported}")
    assert not upward, "\n".join(upward)


def test_only_the_benchmark_harness_imports_test_helpers() -> None:
    importing = [
        str(path.relative_to(LIBRARY))
        for path in sorted(LIBRARY.rglob("*.py"))
        if _package(path) not in (TEST_HELPERS, HARNESS)
        and (TEST_HELPERS in _imported_packages(path) or "testing" in path.stem)
    ]
    assert not importing, importing
