"""The import layering of app/, read from the source (nothing is imported).

- ``app/core`` imports nothing else of ``app``: it sits below every domain.
- A domain's ``models.py`` (its tables) imports only ``app.core``: tables are the one layer
  every domain may use, as foreign keys already do.
- Apart from tables, no two domain packages (the subpackages of ``app/`` other than core)
  import each other, directly or round a longer cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import app

ROOT = Path(app.__file__).parent
DOMAINS = sorted(
    p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name != "core"
)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every ``app.`` module the file imports (at the top or inside a function)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from app.x import service" imports the module app.x.service.
            base = ROOT.parent.joinpath(*node.module.split("."))
            names = [
                f"{node.module}.{a.name}"
                if (base / f"{a.name}.py").exists() or (base / a.name).is_dir()
                else node.module
                for a in node.names
            ]
        else:
            continue
        for name in names:
            if name == "app" or name.startswith("app."):
                yield node.lineno, name


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT.parent)}:{line}"


def test_core_imports_no_domain() -> None:
    wrong = [
        f"{_where(path, line)} imports {name}"
        for path in sorted((ROOT / "core").rglob("*.py"))
        for line, name in _imports(path)
        if not name.startswith("app.core")
    ]
    assert wrong == []


def test_tables_import_only_core() -> None:
    wrong = [
        f"{_where(path, line)} imports {name}"
        for domain in DOMAINS
        if (path := ROOT / domain / "models.py").exists()
        for line, name in _imports(path)
        if not name.startswith("app.core")
    ]
    assert wrong == []


def _graph() -> dict[str, dict[str, str]]:
    """domain -> the domains it imports (tables aside), each with one place that does."""
    graph: dict[str, dict[str, str]] = {d: {} for d in DOMAINS}
    for domain in DOMAINS:
        for path in sorted((ROOT / domain).rglob("*.py")):
            for line, name in _imports(path):
                parts = name.split(".")
                if len(parts) < 2 or parts[1] not in graph or parts[1] == domain:
                    continue
                if parts[2:3] == ["models"]:
                    continue
                graph[domain].setdefault(parts[1], f"{_where(path, line)} imports {name}")
    return graph


def _cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
    """One cycle of the graph as the list of its domains, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        for nxt in sorted(graph[node]):
            found = visit(nxt, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def test_no_import_cycle_between_domains() -> None:
    graph = _graph()
    cycle = _cycle(graph)
    if cycle:
        steps = [graph[a][b] for a, b in zip(cycle, cycle[1:], strict=False)]
        raise AssertionError("import cycle " + " -> ".join(cycle) + ":\n" + "\n".join(steps))


def test_the_checks_see_a_cycle() -> None:
    assert _cycle({"a": {"b": ""}, "b": {"c": ""}, "c": {"a": ""}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b": ""}, "b": {}}) is None
    assert {"carriers", "custody", "auth"} <= set(DOMAINS)
