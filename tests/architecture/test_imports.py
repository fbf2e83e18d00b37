"""The house rules of escalations/ that import-linter cannot state (docs/architecture.md): a name that
starts with `_` is never imported from another module, and no module takes part in an import circle.
The layers themselves are import-linter's contracts in pyproject.toml (`make lint`)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Our code, its tests and tools; the migrations are generated and keep what Django wrote.
SCANNED = ("escalations", "settings", "tests", "scripts", "bench", "deploy")


def python_files() -> list[Path]:
    return [
        path
        for folder in SCANNED
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "migrations" not in path.parts and "node_modules" not in path.parts
    ]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def private_imports(source: str, importer: str) -> list[str]:
    """`from escalations.x import _name`, and `x._name` where x is a module imported from escalations."""
    tree = ast.parse(source)
    found: list[str] = []
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("escalations"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{importer}: from {node.module} import {alias.name}")
                if is_module(f"{node.module}.{alias.name}"):
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("escalations"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(f"{importer}: {node.value.id}.{node.attr} (line {node.lineno})")
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    found = [hit for path in python_files() for hit in private_imports(path.read_text(), module_name(path))]
    assert found == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from escalations.core.services import _change\n", ["m: from escalations.core.services import _change"]),
        ("from escalations.core import services\nservices._snapshot(x)\n", ["m: services._snapshot (line 2)"]),
        ("from escalations.models import Escalation\nEscalation._meta\n", []),
        ("from escalations.core.services import change\nfrom os import _exit\n", []),
        ("class A:\n    def f(self):\n        return self._private\n", []),
    ],
)
def test_the_private_import_check_sees_both_forms(source: str, expected: list[str]) -> None:
    assert private_imports(source, "m") == expected


def cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each one an import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module) & modules:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_escalations_has_no_import_circles() -> None:
    graph = grimp.build_graph("escalations", cache_dir=None)
    # A package's face (__init__ re-exporting its modules) is not a circle with the modules it names.
    modules = {m for m in graph.modules if not m.startswith("escalations.migrations")}
    faces = {"escalations.models", "escalations.policy"}
    for face in faces:
        for imported in graph.find_modules_directly_imported_by(face):
            if imported.startswith(face + "."):
                graph.remove_import(importer=face, imported=imported)
    assert cycles(graph, modules) == []
