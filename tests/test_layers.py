"""The layers: rights/ (the command line) on top, importing api/, bench/ and engine/; api/
importing engine/; engine/ and its compiled half ext/ importing neither. Read from the
source, imports inside functions included, so a lazy import cannot climb a layer unseen."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import ROOT

# what each package must not import; relative imports stay inside the package
FORBIDDEN = {
    "engine": {"api", "bench", "rights"},
    "ext": {"api", "bench", "rights"},
    "api": {"bench", "rights"},
    "bench": {"rights"},
    "loadtest": {"rights"},
}
CYTHON_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import\b|c?import\s+([\w.]+))", re.MULTILINE)


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every absolute import in a .py, .pyx or .pxd file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":  # Cython: not Python syntax, but its import lines are plain
        return {(a or b).split(".")[0] for a, b in CYTHON_IMPORT.findall(text)}
    names = set()
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def sources(package: str) -> list[Path]:
    return sorted(
        p
        for suffix in ("py", "pyx", "pxd")
        for p in (ROOT / package).rglob(f"*.{suffix}")
        if "__pycache__" not in p.parts
    )


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_a_layer_above_it(package):
    files = sources(package)
    assert files, f"{package}/ has no sources"
    climbing = {str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package]) for path in files}
    assert {name: found for name, found in climbing.items() if found} == {}


def test_the_checker_sees_lazy_and_cython_imports(tmp_path):
    lazy = tmp_path / "lazy.py"
    lazy.write_text("from . import sibling\n\ndef run():\n    from rights.cli import main\n    import api.app\n")
    assert imported_packages(lazy) == {"rights", "api"}
    compiled = tmp_path / "compiled.pyx"
    compiled.write_text("from ext.layout cimport *\nfrom engine.quote import (RawLine,\n    RawQuote)\ncimport numpy\n")
    assert imported_packages(compiled) == {"ext", "engine", "numpy"}
