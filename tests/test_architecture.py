"""The import graph of safetycheck/ points one way: no circles, nothing runs back up a layer.

Every import statement counts, also those inside functions (a lazy import hides a circle, it
does not remove one). A lower package that needs a higher one to act announces an event or asks
a hook (`safetycheck/hooks.py`); see docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "safetycheck"

# Lowest first. A module may import from its own layer and the layers below it, never above.
LAYERS: list[set[str]] = [
    # infrastructure: no domain knowledge
    {
        "db",
        "connection_checks",  # the pool's check of a connection at checkout, beside db
        "extensions",
        "errors",
        "clock",
        "faults",
        "paths",
        "settings",
        "ops",
        "hooks",
        "localtime",
        "wording",
        "engine",
        "limits",  # abuse limits: rates and storage, asked by the edges (a panic's texts, sign-in)
        "headers",  # security headers and CORS on every answer
    },
    {"accounts"},
    {"timeline"},
    {"visits"},
    {"households"},
    {"escalation"},
    {"incidents"},
    {"reporting"},
    # the edges: HTTP API, pages, command line, the app factory
    {"api", "web", "cli", "__init__", "__main__"},
]


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if "migrations" in parts:
            continue  # Alembic loads these by path
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> set[str]:
    """Every safetycheck module this one imports, at any depth of the file."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from package import module` imports the module; `from module import name` the module.
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            resolved = _resolve(target) if target.startswith("safetycheck") else None
            if resolved and resolved != module and resolved != "safetycheck":
                found.add(resolved)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module}: its package {top!r} has no layer in tests/test_architecture.py")


def _cycles() -> list[frozenset[str]]:
    """Strongly connected groups of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in GRAPH[node]:
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(frozenset(group))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return groups


def test_every_package_has_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_no_import_runs_back_up_a_layer() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _layer(target) > _layer(module)
    )
    assert upward == [], "imports that run back up (announce an event instead):\n" + "\n".join(upward)


def test_no_import_circles() -> None:
    cycles = _cycles()
    assert cycles == [], f"import circles: {[sorted(group) for group in cycles]}"


def test_the_sweep_engine_knows_no_domain() -> None:
    domains = {name for layer in LAYERS[1:-1] for name in layer}
    engine = {module: targets for module, targets in GRAPH.items() if module.startswith("safetycheck.engine")}
    known = sorted(
        f"{m} -> {t}" for m, targets in engine.items() for t in targets if t.split(".")[1] in domains
    )
    assert known == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from safetycheck.incidents import service\n", {"safetycheck.incidents.service"}),
        (
            "def f():\n    from safetycheck.escalation.alarms import raise_alarm\n",
            {"safetycheck.escalation.alarms"},
        ),
        ("import safetycheck.visits.models\n", {"safetycheck.visits.models"}),
    ],
)
def test_imports_are_read_inside_functions_too(tmp_path: Path, source: str, expected: set[str]) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert _imports("safetycheck.probe", path) == expected
