"""Layering: no import cycle between subpackages of ``stillhouse`` (records, sources, teacher, ...).

Every module under ``src/stillhouse`` is parsed with :mod:`ast` (never imported), and every import
in it counts, function-level and ``TYPE_CHECKING`` ones included: a lazy import still makes the
two packages one design unit. A top-level module (``errors``, ``chat``, ``progress``...) is a node of its
own; imports inside one subpackage are not arrows.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stillhouse"


def _imported(node: ast.AST, package: list[str]) -> list[list[str]]:
    """The dotted names an import statement brings in (``from a import b`` gives ``a`` and ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name.split(".") for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = package[: len(package) - node.level + 1] if node.level else []
    module = base + (node.module.split(".") if node.module else [])
    return [module] + [module + [alias.name] for alias in node.names]


def import_graph(src: Path = SRC) -> dict[str, dict[str, set[str]]]:
    """``unit -> imported unit -> the files (relative to ``src``) whose imports make that arrow``."""
    units = {p.stem for p in src.glob("*.py")} | {
        p.name for p in src.iterdir() if (p / "__init__.py").exists()
    }
    graph: dict[str, dict[str, set[str]]] = {}
    for path in sorted(src.rglob("*.py")):
        parts = [src.name, *path.relative_to(src).with_suffix("").parts]
        package, source = parts[:-1], parts[1]  # a relative import starts from the module's package
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            for name in _imported(node, package):
                if name[0] != src.name or len(name) < 2 or name[1] not in units or name[1] == source:
                    continue
                graph.setdefault(source, {}).setdefault(name[1], set()).add(str(path.relative_to(src)))
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[frozenset[str]]:
    """The strongly connected groups of more than one unit (each holds at least one cycle)."""

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), {}):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    nodes = set(graph) | {b for arrows in graph.values() for b in arrows}
    reach = {node: reachable(node) for node in nodes}
    groups = {frozenset({a} | {b for b in reach[a] if a in reach[b]}) for a in nodes}
    return sorted((g for g in groups if len(g) > 1), key=sorted)


def _describe(graph: dict[str, dict[str, set[str]]], group: frozenset[str]) -> str:
    arrows = [
        f"{a} -> {b} ({', '.join(sorted(graph[a][b]))})"
        for a in sorted(group)
        for b in sorted(graph.get(a, {}))
        if b in group
    ]
    return "; ".join(arrows)


def test_no_import_cycle_between_subpackages() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles: " + " | ".join(_describe(graph, g) for g in found)


def test_records_is_pure_and_imports_no_source() -> None:
    # records/ holds the schema, the line parser and the rules; reading is sources/' job.
    # outputs is a leaf (it imports only errors): the one home of an atomic file write.
    assert set(import_graph().get("records", {})) <= {"errors", "chat", "outputs"}


def test_the_dataset_reader_lives_in_sources() -> None:
    graph = import_graph()
    assert "records" in graph["sources"] and "sources" not in graph["records"]


def test_the_graph_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    src = tmp_path / "stillhouse"
    for package in ("a", "b", "c"):
        (src / package).mkdir(parents=True)
        (src / package / "__init__.py").write_text("")
    (src / "errors.py").write_text("")
    (src / "a" / "x.py").write_text("def f():\n    from stillhouse.b import y\n")
    (src / "b" / "y.py").write_text("from ..a import x\nfrom . import z\nimport stillhouse.errors\n")
    (src / "c" / "__init__.py").write_text("from stillhouse import errors\n")
    graph = import_graph(src)
    assert graph == {
        "a": {"b": {"a/x.py"}},
        "b": {"a": {"b/y.py"}, "errors": {"b/y.py"}},
        "c": {"errors": {"c/__init__.py"}},
    }
    assert cycles(graph) == [frozenset({"a", "b"})]
    assert _describe(graph, cycles(graph)[0]) == "a -> b (a/x.py); b -> a (b/y.py)"


def _names_in(path: Path) -> set[str]:
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
        # Recipes chain library calls; the library never imports one (only the CLI runs them).
        (
            sorted(p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0] not in ("recipes", "cli")),
            "stillhouse.recipes",
        ),
    ],
)
def test_no_upward_or_cyclic_import(files: list[Path], forbidden: str) -> None:
    offenders = {
        f"{path.relative_to(SRC)}: {name}"
        for path in files
        for name in _names_in(path)
        if name == forbidden or name.startswith(forbidden + ".")
    }
    assert files and not offenders, sorted(offenders)
