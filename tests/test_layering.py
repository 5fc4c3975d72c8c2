"""The core never imports the package it sits under: its modules (lorentz._*, the numba and
Triton implementation packages) import their siblings only, so there is no arrow back up.
Adapters and tools (meru, geoopt, faiss, demo, testing, the self-check) use the public API."""

from __future__ import annotations

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "lorentz"
TOOLS = {"_selfcheck.py", "__main__.py", "__init__.py"}
CORE = sorted(
    p
    for p in [*SRC.glob("_*.py"), *SRC.glob("_numba/*.py"), *SRC.glob("_triton/*.py")]
    if p.name not in TOOLS or p.parent != SRC
)


def _imports_the_package(path: pathlib.Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [
                a.name for a in node.names if a.name == "lorentz" or a.name.startswith("lorentz.")
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "lorentz" or node.module.startswith("lorentz."):
                found.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0 and not node.module:
            # "from .. import x" from a subpackage reaches the package itself
            if path.parent != SRC and node.level >= 2:
                found += [f"..{a.name}" for a in node.names if not a.name.startswith("_")]
    return found


def test_the_core_is_found():
    names = {p.relative_to(SRC).as_posix() for p in CORE}
    assert {"_registry.py", "_reference.py", "_dask.py", "_numba/ops.py", "_triton/ops.py"} <= names


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.relative_to(SRC).as_posix())
def test_no_core_module_imports_the_package(path):
    assert _imports_the_package(path) == [], f"{path.name} imports lorentz from below"
