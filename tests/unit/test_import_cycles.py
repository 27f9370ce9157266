"""No import cycles in services/ or netem/. Every import counts: module level, late (inside a function) and
`if TYPE_CHECKING:` ones, since each hides the same two-way dependency."""

from __future__ import annotations

import ast
import functools
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "netem")
# Cycles that exist and are being cut; a cycle may only shrink out of this list, never grow or appear.
KNOWN: tuple[frozenset[str], ...] = ()  # the client's cli/menu cycle is cut (services/client/context.py)


def modules(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")  # every field that holds statements


@functools.cache
def import_nodes(path: Path) -> tuple[ast.Import | ast.ImportFrom, ...]:
    """Every import statement of a file, at any depth (late and `if TYPE_CHECKING:` ones too), found once
    per run: the cycle and the layer tests read the same list. Only the statements are walked (an import
    is a statement) and only the imports are kept, not the whole tree."""
    found: list[ast.Import | ast.ImportFrom] = []
    work: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while work:
        node = work.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
            continue
        for field in _BODIES:
            work.extend(getattr(node, field, ()))
    return tuple(sorted(found, key=lambda node: (node.lineno, node.col_offset)))


def imports_of(name: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """The project modules `name` imports (a package's submodule named in `from pkg import sub` too)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    wanted: set[str] = set()
    for node in import_nodes(path):
        if isinstance(node, ast.Import):
            wanted.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parent = package[:len(package) - (node.level - 1)]
            base = ".".join([*parent, base] if base else parent)
        wanted.add(base)
        wanted.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in wanted if m in known and m != name}


def cycles(graph: Mapping[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


@functools.cache
def graph_of(root: Path) -> dict[str, set[str]]:
    """Module → the project modules it imports (computed once per root and run; callers only read it)."""
    known = modules(root)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def test_no_import_cycles_in_services_or_netem() -> None:
    new = [sorted(c) for c in cycles(graph_of(REPO)) if not any(c <= k for k in KNOWN)]
    assert new == [], "import cycles (break them: move the shared piece into its own module)"


def test_the_checker_finds_cycles_direct_late_and_relative(tmp_path: Path) -> None:
    pkg = tmp_path / "netem"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from netem import b\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n")  # a late, relative import
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from netem import d\n")
    (pkg / "d.py").write_text("import netem.c\n")
    (pkg / "e.py").write_text("from netem.a import x\n")  # imports a, nothing imports e
    (pkg / "f.py").write_text("try:\n    pass\nexcept ImportError:\n    from netem import g\n")
    (pkg / "g.py").write_text("class C:\n def m(self):\n  with open('x'):\n"
                              "   match self:\n    case _:\n     import netem.f\n")
    found = sorted(sorted(c) for c in cycles(graph_of(tmp_path)))
    assert found == [["netem.a", "netem.b"], ["netem.c", "netem.d"], ["netem.f", "netem.g"]]
