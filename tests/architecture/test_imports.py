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


# --------------------------------------------------------------------------- handlers and adapters

#: What a handler may import besides its one entry point: the composition root, its settings, the
#: errors it maps to batch failures, the shared value types, the invocation's time budget, the SQS
#: batch loop, and the parsers of its input.
HANDLER_MAY_IMPORT = (
    "ecswatch.adapters.factory",
    "ecswatch.budget",
    "ecswatch.config.settings",
    "ecswatch.errors",
    "ecswatch.handlers.batch",
    "ecswatch.run",
)
#: Modules of the handlers package that are no function's handler: the batch loop they share.
HANDLER_PLUMBING = ("ecswatch.handlers.batch",)
#: A handler's entry point: one capability's coordinator (or the watchdog's pass).
ENTRY_POINTS = ("ecswatch.coordinators.", "ecswatch.watchdog.service")


def _handlers() -> list[str]:
    return sorted(m for m in GRAPH if m.startswith("ecswatch.handlers.") and m not in HANDLER_PLUMBING)


def _is_entry_point(module: str) -> bool:
    return any(module == p or (p.endswith(".") and module.startswith(p)) for p in ENTRY_POINTS)


def test_the_rules_below_see_every_handler() -> None:
    assert _handlers() == [
        "ecswatch.handlers.retry_launcher",
        "ecswatch.handlers.task_events",
        "ecswatch.handlers.watchdog",
    ]


def test_a_handler_imports_the_factory_its_input_parsers_and_at_most_one_entry_point() -> None:
    """No adapter but the factory, no analysis, no notifier, no second capability: a handler parses,
    calls one entry point, and returns."""
    for handler in _handlers():
        imported = GRAPH[handler]
        other = {
            m
            for m in imported
            if m not in HANDLER_MAY_IMPORT and not m.startswith("ecswatch.events.") and not _is_entry_point(m)
        }
        assert other == set(), f"{handler} imports {sorted(other)}"
        entry_points = {m for m in imported if _is_entry_point(m)}
        assert len(entry_points) <= 1, f"{handler} calls more than one entry point: {sorted(entry_points)}"


def test_no_handler_imports_an_adapter_other_than_the_factory() -> None:
    for handler in _handlers():
        adapters = {m for m in GRAPH[handler] if m.startswith("ecswatch.adapters.")}
        assert adapters <= {"ecswatch.adapters.factory"}, f"{handler} imports {sorted(adapters)}"


def test_adapters_never_import_handlers_and_only_the_factory_builds_coordinators() -> None:
    for module, imported in GRAPH.items():
        if not module.startswith("ecswatch.adapters"):
            continue
        assert not {m for m in imported if m.startswith("ecswatch.handlers")}, module
        if module != "ecswatch.adapters.factory":
            assert not {m for m in imported if m.startswith("ecswatch.coordinators")}, module


def test_coordinators_import_no_adapter_nor_handler() -> None:
    """They take ports (``ecswatch.ports``) as arguments: the factory hands them adapters."""
    for module, imported in GRAPH.items():
        if module.startswith("ecswatch.coordinators"):
            wrong = {m for m in imported if m.startswith(("ecswatch.adapters", "ecswatch.handlers"))}
            assert wrong == set(), f"{module} imports {sorted(wrong)}"
