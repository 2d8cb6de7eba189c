"""Import arrows that must not exist, read statically (lazy imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stillhouse"


def _imported(path: Path) -> set[str]:
    """Every module an ``import``/``from ... import`` anywhere in ``path`` names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize(
    ("files", "forbidden"),
    [
        # models/ sits below tasks/: the student-format wrapper is a hook tasks registers.
        (sorted((SRC / "models").glob("*.py")), "stillhouse.tasks"),
        # The service stores jobs; whoever composes it with workers starts them (jobs.worker).
        ([SRC / "jobs" / "service.py"], "stillhouse.jobs.worker"),
    ],
)
def test_no_upward_or_cyclic_import(files: list[Path], forbidden: str) -> None:
    offenders = {
        f"{path.relative_to(SRC)}: {name}"
        for path in files
        for name in _imported(path)
        if name == forbidden or name.startswith(forbidden + ".")
    }
    assert files and not offenders, sorted(offenders)
