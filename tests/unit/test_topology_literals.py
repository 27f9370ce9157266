"""Tests and the VM harness take the topology's addresses and ports from `netem.topology`, never literally.

A literal of the topology is an address in one of its subnets, IPv4 or IPv6 (a subnet too), or a service
port (8000, 8080, 9000, 9090 today: `topology.PORTS`) as `HOST:PORT`, in a URL, in `port N` (BPF), as a
string of its own, or as a number (except as a count: `b"a" * 9000`). Docstrings and comments may show
them; compose files and `netem/topology.py` are the copies that must exist (test_topology.py checks they
agree).
127.0.0.1 and port 0 are not the topology.
"""

from __future__ import annotations

import ast
import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path

from netem import topology

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("tests", "netem/vm")
SUBNETS = [ipaddress.ip_network(net) for net in (*topology.SUBNETS.values(), *topology.SUBNETS6.values())]
PORTS = frozenset(topology.PORTS.values())
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?:/\d{1,2})?(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?:/\d{1,3})?(?![\w:])")
_PORT = "|".join(str(port) for port in sorted(PORTS))
_PORT_TEXT = re.compile(rf"(?:[\w\]]:|\bport\s+)(?:{_PORT})(?!\d)|^(?:{_PORT})$")


def in_topology(text: str) -> list[str]:
    """The topology's addresses and ports written in `text`."""
    found = []
    for match in (*_IPV4.finditer(text), *_IPV6.finditer(text)):
        try:
            address = ipaddress.ip_address(match.group(1))
        except ValueError:
            continue
        if any(address in subnet for subnet in SUBNETS):
            found.append(match.group(0))
    return found + [m.group(0) for m in _PORT_TEXT.finditer(text)]


_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def literals(source: str) -> Iterator[tuple[int, str]]:
    """(line, literal) for each topology literal in Python `source`. One walk over the tree notes the
    docstrings (module, class, function) and the operands of `*` (a repeat count, not a port) to skip,
    and the constants to look at."""
    skip: set[int] = set()
    counts: set[int] = set()
    constants: list[ast.Constant] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant):
            constants.append(node)
        elif isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Mult):
                counts.update((id(node.left), id(node.right)))
        elif isinstance(node, _DOCUMENTED) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
    for node in constants:
        if id(node) in skip:
            continue
        if isinstance(node.value, str | bytes):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            yield from ((node.lineno, found) for found in in_topology(text))
        elif type(node.value) is int and node.value in PORTS and id(node) not in counts:
            yield node.lineno, str(node.value)


def scanned_files() -> list[Path]:
    return sorted(path for folder in SCANNED for path in (REPO / folder).rglob("*.py"))


# Files that landed with literals while this rule was being introduced, and how many they hold: a count
# may only shrink (to 0, then the entry goes), never grow, and no file may join.
PENDING: dict[str, int] = {}


def test_no_topology_literals_in_tests_or_the_vm() -> None:
    found: dict[str, list[str]] = {}
    for path in scanned_files():
        name = str(path.relative_to(REPO))
        found[name] = [f"{name}:{line}: {text}" for line, text in literals(path.read_text(encoding="utf-8"))]
    new = [item for name, items in found.items() if len(items) > PENDING.get(name, 0) for item in items]
    assert new == [], "take these from netem.topology (address, endpoint, named_endpoint, port, SUBNETS)"
    assert {name: len(found.get(name, [])) for name in PENDING} == PENDING, "a count shrank: lower it here"


def test_the_checker_knows_a_literal_when_it_sees_one() -> None:
    http, echo = topology.port("server", "http"), topology.port("server", "udp")
    source = f'''"""Docstring: {topology.endpoint("proxy", "udp")} is fine here."""
a = "{topology.address("server")}"
b = "{topology.SUBNETS_TEXT}"
c = "http://{topology.named_endpoint("proxy", "http")}/x"
d = "udp port {echo}"
e = ("server", {http})
f = "{topology.port("proxy", "udp")}"
g = b"a" * {echo}
h = "127.0.0.1:0"
i = "10.203.201.10"  # a subnet of the test's own, not the topology's
j = 1{http}
k = "x" * {topology.port("proxy", "http")}
l = "http://[{topology.address("server", 6)}]/"
m = "fd00:99::10"  # not the topology's
'''
    assert sorted({line for line, _ in literals(source)}) == [2, 3, 4, 5, 6, 7, 13]
