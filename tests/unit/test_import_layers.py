"""netem/ is laid out by role, and imports go one way: core ← tools, backends ← commands ← vm (host, guest).

A package's `__init__.py` is a docstring only, so `from netem.core import tc` depends on `tc`, not on the
package; the host and guest halves of the VM never import each other (they meet in `netem.vm`'s shared
modules); the pure core runs no processes and opens no sockets.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

from tests.unit.test_import_cycles import REPO, graph_of, import_nodes, modules

# layer → the other layers its modules may import (every layer may import itself)
ALLOWED: dict[str, frozenset[str]] = {
    "netem.topology": frozenset(),
    "netem.core": frozenset({"netem.topology"}),
    "netem.traces": frozenset({"netem.core", "netem.topology"}),  # pure, like core: trace files, fits
    "netem.tools": frozenset({"netem.core"}),
    "netem.backends": frozenset({"netem.core", "netem.traces", "netem.topology"}),
    "netem.commands": frozenset({"netem.core", "netem.traces", "netem.backends", "netem.tools",
                                 "netem.topology"}),
    "netem.vm": frozenset({"netem.core", "netem.traces", "netem.commands", "netem.topology"}),
    "netem.vm.host": frozenset({"netem.vm", "netem.core", "netem.traces", "netem.commands", "netem.tools",
                                "netem.topology"}),
    "netem.vm.guest": frozenset({"netem.vm", "netem.core", "netem.traces", "netem.backends", "netem.commands",
                                 "netem.tools", "netem.topology"}),
    "netem.__main__": frozenset({"netem.commands"}),  # python -m netem
    "netem.vm.__main__": frozenset({"netem.vm.host"}),  # python -m netem.vm
    "netem": frozenset(),
}
# what the pure core may not import at all (time and I/O come in through parameters)
CORE_FORBIDDEN = ("subprocess", "socket", "docker", "asyncio", "services")


def layer(module: str) -> str:
    """The longest layer name that `module` is or lies under."""
    return max((name for name in ALLOWED if module == name or module.startswith(name + ".")), key=len)


def packages(known: Mapping[str, Path]) -> set[str]:
    return {name for name, path in known.items() if path.name == "__init__.py"}


def wrong_way(graph: Mapping[str, set[str]], inits: set[str]) -> list[str]:
    """`importer → imported` for every edge the layer table does not allow (package inits ignored)."""
    found = []
    for name, imported in graph.items():
        if not name.startswith("netem"):
            continue
        mine = layer(name)
        for target in sorted(imported - inits):
            if target.startswith("netem") and layer(target) not in ALLOWED[mine] | {mine}:
                found.append(f"{name} → {target}")
    return found


def raw_imports(path: Path) -> set[str]:
    """Top-level names of everything `path` imports (any depth: late and TYPE_CHECKING imports too)."""
    names: set[str] = set()
    for node in import_nodes(path):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_netem_imports_go_one_way() -> None:
    known = modules(REPO)
    assert wrong_way(graph_of(REPO), packages(known)) == []


def test_package_inits_are_docstrings_only() -> None:
    known = modules(REPO)
    busy = [name for name in packages(known) if name.startswith("netem") and raw_imports(known[name])]
    assert busy == []


def test_the_core_runs_no_processes_and_opens_no_sockets() -> None:
    core = {name: path for name, path in modules(REPO).items()
            if name.startswith(("netem.core", "netem.traces"))}
    found = {name: sorted(raw_imports(path) & set(CORE_FORBIDDEN)) for name, path in core.items()}
    assert {name: bad for name, bad in found.items() if bad} == {}


def test_every_netem_module_has_a_layer() -> None:
    strays = [name for name in modules(REPO) if name.startswith("netem.") and layer(name) == "netem"]
    assert strays == [], ("a new netem module goes into core, traces, tools, backends, commands or vm "
                          "(CONTRIBUTING)")


def test_the_checker_finds_a_wrong_way_import() -> None:
    graph = {"netem.core.tc": {"netem.commands.cli", "netem.core"}, "netem.commands.cli": {"netem.core.tc"},
             "netem.vm.guest.stack": {"netem.vm.host.boot"}, "netem.vm.host.boot": {"netem.vm.channel"}}
    assert wrong_way(graph, {"netem.core"}) == ["netem.core.tc → netem.commands.cli",
                                                "netem.vm.guest.stack → netem.vm.host.boot"]
