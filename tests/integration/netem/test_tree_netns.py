"""Per-destination leaves on a real kernel: one sender on a shared bridge, a rate on what it sends to B,
nothing on what it sends to C (tbf leaves under the HTB tree: every kernel with tc has them). The bridge
is dual-stack, as the stack's links are: B's IPv6 address is its own leaf (u32 `match ip6 dst`).

Integration, marked `netns`: needs root, ip and tc. Namespaces: A, B, C, and a hub holding the bridge.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from netem.backends.local import LocalRunner
from netem.core.engine import Target, apply_ends, clear_targets, read_tree
from netem.core.fields import Impairment
from netem.core.tree import Leaf
from services.common import inet

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tc") or not shutil.which("ip"),
                                 reason="needs root, ip and tc (network namespaces)")]

NET = ipaddress.ip_network("192.0.2.0/24")  # TEST-NET-1: these namespaces only
ADDR = {name: str(NET[i]) for i, name in enumerate("abc", start=1)}
NET6 = ipaddress.ip_network("2001:db8:5302::/64")  # documentation prefix: these namespaces only
ADDR6 = {name: str(NET6[i]) for i, name in enumerate("abc", start=1)}
PORT = "5302"
RATE_BPS = 5_000_000


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def shared() -> Iterator[dict[str, str]]:
    names = {n: f"qlt{n}{os.getpid()}" for n in ("a", "b", "c", "hub")}
    try:
        for ns in names.values():
            sh("ip", "netns", "add", ns)
        sh("ip", "-n", names["hub"], "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", names["hub"], "link", "set", "br0", "up")
        for n in "abc":
            sh("ip", "-n", names[n], "link", "add", "v0", "type", "veth", "peer", "name", f"p{n}",
               "netns", names["hub"])
            sh("ip", "-n", names[n], "addr", "add", f"{ADDR[n]}/24", "dev", "v0")
            sh("ip", "-n", names[n], "addr", "add", f"{ADDR6[n]}/64", "dev", "v0", "nodad")
            sh("ip", "-n", names[n], "link", "set", "v0", "up")
            sh("ip", "-n", names["hub"], "link", "set", f"p{n}", "master", "br0")
            sh("ip", "-n", names["hub"], "link", "set", f"p{n}", "up")
        yield names
    finally:
        for ns in names.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, check=False)


def rate_to(names: dict[str, str], dest: str, size_b: int, version: int = 4) -> float:
    """Bytes sent by A (its egress is shaped) to `dest` over IPv`version`, measured at the receiver."""
    source = (ADDR if version == 4 else ADDR6)["a"]
    sender = subprocess.Popen(["ip", "netns", "exec", names["a"], sys.executable, "-m", "netem.tools.bulk",
                               "serve", source, PORT, str(size_b)], stdout=subprocess.DEVNULL)
    try:
        done = subprocess.run(["ip", "netns", "exec", names[dest], sys.executable, "-m", "netem.tools.bulk",
                               "fetch", source, PORT], capture_output=True, text=True, check=True,
                              timeout=60)
    finally:
        if sender.poll() is None:
            sender.kill()
        sender.wait(timeout=5)
    return float(json.loads(done.stdout)["steady_bps"])


@pytest.mark.slow
def test_only_the_named_destination_is_shaped(shared: dict[str, str]) -> None:
    target = Target("proxy", "edge", "down", "v0", LocalRunner(netns=shared["a"]))
    apply_ends([target], {("edge", "down"): Impairment()},
               leaves={target.label: [Leaf(ADDR["b"], Impairment(rate_bps=RATE_BPS))]})
    try:
        kinds = sorted(q.kind for q in read_tree(target))
        assert kinds == ["htb", "tbf"], kinds
        to_b = rate_to(shared, "b", 3_000_000)
        to_c = rate_to(shared, "c", 30_000_000)
    finally:
        clear_targets([target])
    print(f"A→B (leaf {RATE_BPS / 1e6:g} Mbit/s): {to_b / 1e6:.2f} Mbit/s; "
          f"A→C (default class): {to_c / 1e6:.1f}")
    assert abs(to_b - RATE_BPS * 1448 / 1514) <= 0.1 * RATE_BPS  # TCP payload per full frame
    assert to_c > 5 * to_b  # the other pair of the same network: not shaped


@pytest.mark.slow
def test_a_destinations_two_families_are_two_leaves_and_both_are_shaped(shared: dict[str, str]) -> None:
    """What plans.py makes of a `to:` name or a mix replica on a dual-stack link: a leaf per address. Each
    family to B carries the leaf's rate (its own header sizes: tcp_goodput_bps); IPv6 to C is left alone."""
    target = Target("proxy", "edge", "down", "v0", LocalRunner(netns=shared["a"]))
    apply_ends([target], {("edge", "down"): Impairment()},
               leaves={target.label: [Leaf(ADDR["b"], Impairment(rate_bps=RATE_BPS)),
                                      Leaf(ADDR6["b"], Impairment(rate_bps=RATE_BPS))]})
    try:
        assert sorted(q.kind for q in read_tree(target)) == ["htb", "tbf", "tbf"]
        to_b = {version: rate_to(shared, "b", 3_000_000, version) for version in (4, 6)}
        to_c6 = rate_to(shared, "c", 30_000_000, 6)
    finally:
        clear_targets([target])
    print(f"A→B (two leaves, {RATE_BPS / 1e6:g} Mbit/s): IPv4 {to_b[4] / 1e6:.2f}, IPv6 {to_b[6] / 1e6:.2f} "
          f"Mbit/s; A→C over IPv6 (default class): {to_c6 / 1e6:.1f}")
    for version in (4, 6):
        assert abs(to_b[version] - inet.tcp_goodput_bps(RATE_BPS, version)) <= 0.1 * RATE_BPS, (version, to_b)
    assert to_c6 > 5 * to_b[6]
