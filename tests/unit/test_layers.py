"""Nothing below the HTTP edge imports it: the HTTP layer depends on the core, never the other way."""

from __future__ import annotations

import ast
from pathlib import Path

import gigaam_api

CORE = ("audio", "dedup", "engines", "formats", "jobs", "pipeline", "transcribe", "vad")


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_core_imports_nothing_of_the_http_layer() -> None:
    root = Path(gigaam_api.__file__).parent
    modules = [path for package in CORE for path in sorted((root / package).rglob("*.py"))]
    assert len(modules) > 30
    offending = {
        str(path.relative_to(root)): sorted(
            name for name in _imported(path) if name == "gigaam_api.api" or name.startswith("gigaam_api.api.")
        )
        for path in modules
    }
    assert {path: names for path, names in offending.items() if names} == {}
