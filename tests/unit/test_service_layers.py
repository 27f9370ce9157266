"""services/ imports go one way: common (and its http1, connection) ← server, proxy, client; no service
imports another or netem; the proxy's RFC 9111 policy (`proxy/cache`) and the sans-IO parts of common do
no I/O of their own (docs/CONTRIBUTING.md, "services/ and what each package may import")."""

from __future__ import annotations

import ast

from tests.unit.test_import_cycles import REPO, graph_of, import_nodes, modules

# layer → the other layers its modules may import (every layer may import itself)
ALLOWED: dict[str, frozenset[str]] = {
    "services.common": frozenset(),
    "services.common.http1": frozenset({"services.common"}),
    "services.common.connection": frozenset({"services.common", "services.common.http1"}),
    "services.server": frozenset({"services.common", "services.common.http1", "services.common.connection"}),
    "services.proxy": frozenset({"services.common", "services.common.http1", "services.common.connection",
                                 "services.proxy.cache", "services.proxy.numbers"}),
    "services.proxy.cache": frozenset({"services.common.http1", "services.proxy.numbers"}),
    "services.proxy.numbers": frozenset({"services.common.http1"}),  # a leaf the policy shares
    "services.client": frozenset({"services.common", "services.common.http1"}),
    "services": frozenset(),
}
# sans-IO: what these may not import at all (sockets, processes and the event loop stay in the shells)
PURE = ("services.common.http1", "services.common.connection.state", "services.common.connection.heads",
        "services.proxy.cache")
IO_MODULES = frozenset({"socket", "asyncio", "subprocess", "selectors"})


def layer(module: str) -> str:
    return max((name for name in ALLOWED if module == name or module.startswith(name + ".")), key=len)


def test_services_import_one_way() -> None:
    known = modules(REPO)
    inits = {name for name, path in known.items() if path.name == "__init__.py"}
    wrong = []
    for name, imported in graph_of(REPO).items():
        if not name.startswith("services"):
            continue
        mine = layer(name)
        for target in sorted(imported - inits):
            if target.startswith("netem") or (target.startswith("services")
                                              and layer(target) not in ALLOWED[mine] | {mine}):
                wrong.append(f"{name} → {target}")
    assert wrong == []


def test_the_sans_io_parts_do_no_io() -> None:
    found = []
    for name, path in modules(REPO).items():
        if not any(name == pure or name.startswith(pure + ".") for pure in PURE):
            continue
        for node in import_nodes(path):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{name} imports {mod}" for mod in names if mod.split(".")[0] in IO_MODULES]
    assert found == []
