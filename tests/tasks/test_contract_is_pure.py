"""The router's task contract (tasks/) never reaches into its machinery (router/): the arrow is router → tasks."""

from __future__ import annotations

import ast
from pathlib import Path

import stillhouse.tasks

TASKS = Path(stillhouse.tasks.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (absolute names)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_imported_modules_sees_lazy_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os\n\ndef f():\n    from stillhouse.router.fast_router import FastRouter\n")
    assert imported_modules(source) == {"os", "stillhouse.router.fast_router"}


def test_no_task_module_imports_the_router_package():
    offenders = {
        str(path.relative_to(TASKS)): sorted(
            m for m in imported_modules(path) if m.split(".")[:2] == ["stillhouse", "router"]
        )
        for path in TASKS.rglob("*.py")
    }
    assert len(offenders) > 10  # the walk found the task modules
    assert {path: found for path, found in offenders.items() if found} == {}
