"""generator/ imports form no cycle, lazy (function-level) imports included.

A cycle is what made render and pipeline depend on each other through the makejinja
plugin; an import inside a function hides such a cycle from Python, not from this test.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import generator

PACKAGE = Path(generator.__file__).parent


def _modules() -> dict[str, Path]:
    """{dotted module name: its file}; a package is named by its __init__.py."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module `name` loads: itself, or the nearest enclosing module (`pkg.mod.Class`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """{module: the generator modules it imports anywhere in its body} (made once; callers
    only read it)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                imported.update(_resolve(alias.name, modules) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                imported.update(_resolve(f"{base}.{a.name}", modules) for a in node.names)
        graph[name] = {m for m in imported if m is not None and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, …, a], or None when the graph is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_generator_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_subpackages_have_no_cycle_either() -> None:
    """generator.config, generator.render, … each as one node (top-level modules as theirs)."""
    packages: dict[str, set[str]] = {}
    for module, imported in import_graph().items():
        node = ".".join(module.split(".")[:2])
        packages.setdefault(node, set()).update(
            ".".join(m.split(".")[:2]) for m in imported if not m.startswith(f"{node}.")
        )
        packages[node].discard(node)
    cycle = find_cycle(packages)
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle or [])


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    graph = import_graph()
    # cli imports pipeline only inside its command functions.
    assert "generator.pipeline" in graph["generator.cli"]
    assert "generator.render.guards" in graph["generator.render.tree"]


def test_a_cycle_is_reported_as_a_readable_chain() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def _private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")  # __version__ is public


def test_no_private_name_is_imported_from_another_module() -> None:
    """`_name` is private to its module (CONTRIBUTING.md): tests and bench included."""
    root = PACKAGE.parent
    found = []
    for folder in ("generator", "tests", "bench"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("generator"):
                    private = [
                        a.name
                        for a in node.names
                        if a.name.startswith("_") and not a.name.endswith("__")
                    ]
                    if private:
                        found.append(f"{path.relative_to(root)}:{node.lineno} {private}")
    assert found == []
