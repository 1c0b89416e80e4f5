"""The package's shape, checked: no import circles, and each layer imports only what it may.

Read from the source with ``ast`` (imports under ``TYPE_CHECKING`` and inside functions count
too), so a circle cannot hide behind a lazy import. The rules are the ones
``docs/architecture.md`` states.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "ecswatch"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


MODULES = _modules()


def _imports(path: Path) -> Iterator[str]:
    """Every ecswatch module ``path`` imports (``from ecswatch.x import y`` names ``ecswatch.x.y``
    when that is a module, else ``ecswatch.x``)."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ecswatch"):
                    yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ecswatch"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                yield candidate if candidate in MODULES else node.module


def _graph() -> dict[str, set[str]]:
    return {name: {m for m in _imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


GRAPH = _graph()


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the graph, if there is one (depth-first search with colours)."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in colour and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if node not in colour and (found := visit(node)):
            return found
    return None


def _package_of(module: str) -> str:
    """``ecswatch.retries.policy`` -> ``retries``; top-level modules name themselves (``run``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ecswatch"


def test_no_module_imports_itself_back_through_a_circle() -> None:
    assert _cycle(GRAPH) is None


def test_no_circle_between_capability_packages() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        here = _package_of(module)
        packages.setdefault(here, set()).update(_package_of(t) for t in targets if _package_of(t) != here)
    assert _cycle(packages) is None
