"""The layout's rules, read from the source with ``ast``: no import cycle, a pure domain, small units.

Every import counts, at module level and inside functions: a function-level import that
closes a loop is still a loop, only hidden until that function runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("portal", "workers")
TOP_MODULES = ("schedules", "wsgi")
FORBIDDEN_IN_DOMAIN = ("flask", "flask_sqlalchemy", "sqlalchemy", "redis", "rq", "rq_scheduler", "werkzeug")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def source_files() -> dict[str, Path]:
    """Every first-party module by dotted name (``portal.alerts.scan``, ``schedules``)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    for name in TOP_MODULES:
        modules[name] = ROOT / f"{name}.py"
    return modules


def imported_modules(path: Path, module: str, known: set[str]) -> set[str]:
    """The first-party modules ``module`` imports anywhere in its file.

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``.
    """
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in known:
                    found.add(target)
                elif base in known:
                    found.add(base)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    files = source_files()
    known = set(files)
    return {module: imported_modules(path, module, known) for module, path in files.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_cycle_finder_reports_a_loop_and_passes_a_chain():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycle_at_module_or_function_level():
    assert find_cycles(import_graph()) == []


def test_the_domain_imports_no_framework_database_or_queue():
    offenders = []
    for module, path in source_files().items():
        if not module.startswith("portal.domain"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top in FORBIDDEN_IN_DOMAIN or (
                    top in ("portal", "workers") and not name.startswith("portal.domain")
                ):
                    offenders.append(f"{module} imports {name}")
    assert offenders == []


def test_services_and_the_domain_never_import_the_workers_or_the_views():
    graph = import_graph()
    upward = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith("portal.")
        and not module.startswith(("portal.blueprints", "portal.cli"))
        and module != "portal"
        for target in targets
        if target.startswith(("workers", "portal.blueprints", "portal.cli")) or target in TOP_MODULES
    ]
    assert upward == []


@pytest.mark.parametrize("package", [*PACKAGES, "tests", "bench"])
def test_no_module_is_over_400_lines(package):
    long = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for path in sorted((ROOT / package).rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert long == []


def test_no_function_is_over_60_lines_in_the_app_and_workers():
    long = []
    for path in [*source_files().values()]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if (n := node.end_lineno - first + 1) > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {n} lines")
    assert long == []
