"""The layout is the data flow (docs/architecture.md): rules that can be checked mechanically."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "predaudit"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """Every predaudit module ``name`` imports, at any depth of its code (functions too)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def test_the_graph_sees_imports():
    assert "predaudit.io.validate" in GRAPH["predaudit.io.load"]
    assert "predaudit.store.build" in GRAPH["predaudit.cli"]  # imported inside a function


def test_no_import_cycle():
    """No cycle, counting imports inside functions (a package's __init__ is a module too)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(GRAPH[n]):
            if m.startswith(n + "."):  # a package importing its own submodules
                continue
            if state.get(m) == 1:
                cycle = stack[stack.index(m) :] + [m]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(GRAPH):
        if n not in state:
            visit(n)


def test_reduce_does_not_read_files():
    for name, deps in GRAPH.items():
        if name.startswith("predaudit.reduce"):
            assert not any(d.startswith("predaudit.io") for d in deps), name
            assert not any(d.startswith("predaudit.store") for d in deps), name


def test_analysis_and_report_do_no_io_or_printing():
    for name, deps in GRAPH.items():
        if name.startswith(("predaudit.analysis", "predaudit.report")):
            bad = {d for d in deps if d.startswith(("predaudit.io", "predaudit.render"))}
            bad |= {d for d in deps if d.startswith(("predaudit.plots", "predaudit.cli"))}
            assert not bad, (name, bad)
        if name.startswith("predaudit.report"):
            assert not any(d.startswith(("predaudit.analysis", "predaudit.store")) for d in deps)


def test_only_the_cli_imports_click():
    for name, path in MODULES.items():
        if name == "predaudit.cli":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "click" for a in node.names), name
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "click", name


def test_modules_fit_on_a_few_screens():
    long = {
        name: n
        for name, p in MODULES.items()
        if name != "predaudit.cli"
        and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_suffix_has_a_reader():
    from predaudit.io.formats import READERS
    from predaudit.io.naming import SUFFIXES

    assert set(READERS) == set(SUFFIXES)


def test_nothing_points_outside_the_repository():
    """The project's contract lives in the repository (docs/, docs/schema/)."""
    out = subprocess.run(
        ["git", "grep", "-n", "-I", "-e", "../shared", "-e", "DESIGN.md", "--", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    hits = [
        line for line in out.stdout.splitlines() if not line.startswith("tests/test_layering.py")
    ]
    assert hits == []
