"""The stack dual-stack under Docker Compose: networks and addresses from `netem.topology`, published ports
on both loopbacks, the suite over IPv6 from the client container, and a rate limit on a link seen in the
IPv6 rows as the 20-byte larger header predicts (tbf: every kernel runs it; the netem profiles' IPv6
rows are checked by test_netem_profiles.py, in the VM where the host has no sch_netem)."""

from __future__ import annotations

import csv
import http.client
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from netem import topology
from netem.core.expect import parse_rows
from services.common import inet
from services.common.listen import can_bind

from .conftest import REPO, Stack

pytestmark = pytest.mark.compose

RATE_BPS = 2_000_000  # the edge's down direction (proxy → client) in the rate test
PAYLOAD_B = 200  # probe size: 242-byte frames over IPv4, 262 over IPv6 (8 % fewer per second)
RATE_TOLERANCE = 0.06  # each family's received payload rate vs what the link carries
RATIO_TOLERANCE = 0.03  # IPv4 / IPv6 payload rates vs the frame sizes' ratio (same link, same run)


def _network(stack: Stack, link: str) -> dict[str, Any]:
    done = subprocess.run(["docker", "network", "inspect", f"{stack.project}_{link}"], capture_output=True,
                          text=True, check=True, timeout=60)
    found: dict[str, Any] = json.loads(done.stdout)[0]
    return found


def test_networks_and_fixed_services_are_dual_stack(stack: Stack) -> None:
    for link in topology.LINKS:
        network = _network(stack, link.name)
        assert network["EnableIPv6"] is True
        assert {c["Subnet"] for c in network["IPAM"]["Config"]} == {link.subnet, link.subnet6}
    for service in ("proxy", "server"):
        nets = stack.inspect(service)["NetworkSettings"]["Networks"]
        found = {name.rsplit("_", 1)[1]: (n["IPAddress"], n["GlobalIPv6Address"])
                 for name, n in nets.items()}
        expected = {link: (addr, topology.ADDRESSES6[(svc, link)])
                    for (svc, link), addr in topology.ADDRESSES.items() if svc == service}
        assert found == expected


def test_published_ports_answer_on_both_loopbacks(stack: Stack) -> None:
    """From the host: 127.0.0.1 always; [::1] where the host has IPv6 loopback (docker-proxy forwards it
    to the container's IPv6 address, so this also proves the services listen on IPv6)."""
    hosts = ["127.0.0.1", "::1"] if can_bind("::1") else ["127.0.0.1"]
    for host in hosts:
        for port, path in ((stack.proxy_port, "/_proxy/stats"), (stack.server_port, "/_server/health")):
            conn = http.client.HTTPConnection(host, port, timeout=10)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
            finally:
                conn.close()
            # /_proxy/stats answers the networks' gateways of both families (compose's PROXY_STATS_ALLOW)
            assert response.status == 200, (host, port, path, response.status)


def test_the_default_suite_ran_over_both_families(stack: Stack) -> None:
    with (stack.results_dir / "qos_result.csv").open(newline="") as handle:
        found = [(r["kind"], r["ip_version"], r["ok"]) for r in csv.DictReader(handle)
                 if r["label"] == "compose-test"]
    kinds = ("http_miss", "http_hit", "qos", "load")
    assert found[:8] == [(kind, version, "1") for version in ("4", "6") for kind in kinds], found


def test_suite_over_ipv6_from_the_client_container(stack: Stack) -> None:
    done = stack.compose("run", "--rm", "-T", "--no-deps", "client", "suite", "-6", "--json", "--csv", "",
                         timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [r for r in parse_rows(done.stdout) if "kind" in r]
    assert [(r["kind"], r["ip_version"]) for r in rows] == [
        ("http_miss", 6), ("http_hit", 6), ("qos", 6), ("load", 6)], rows
    assert [r["x_cache"] for r in rows[:2]] == ["MISS", "HIT"]
    assert rows[2]["target"] == topology.named_endpoint("proxy", "udp") and rows[2]["loss_pct"] == 0


def _netem(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netem", "--project", stack.project, *args], cwd=REPO,
                          env=stack.env, capture_output=True, text=True, timeout=180, check=False)


def _received_bps(stack: Stack, version: str) -> dict[str, Any]:
    """A probe stream offered at 1.5 × the link's rate; the replies come back through the shaper."""
    offered = int(inet.udp_payload_rate_bps(RATE_BPS, PAYLOAD_B, int(version)) * 1.5)
    done = stack.compose("run", "--rm", "-T", "--no-deps", "client", "qos", f"-{version}",
                         "--target", topology.named_endpoint("proxy", "udp"), "--size", str(PAYLOAD_B),
                         "--rate", f"{offered}bit", "--duration", "4s", "--wait", "1s", "--json",
                         "--csv", "", timeout=300, check=False)
    rows = [r for r in parse_rows(done.stdout) if r.get("kind") == "qos"]
    assert len(rows) == 1 and rows[0]["ip_version"] == int(version), done.stdout[-2000:] + done.stderr[-2000:]
    return rows[0]


def test_a_rate_limit_shows_in_the_ipv6_rows_as_the_larger_header_predicts(stack: Stack,
                                                                            tmp_path: Path) -> None:
    """tbf counts Ethernet frames: at one link rate IPv6 delivers payload × 262/242 slower than IPv4 with
    200-byte probes. Both families are measured in the same run through the same shaped end, so the
    ratio holds on a busy machine too; each rate must also match what the link carries."""
    profile = tmp_path / "edge-down-2mbit.yaml"
    profile.write_text(f"description: {RATE_BPS / 1e6:g} Mbit/s on edge down\nedge: {{down: {{rate: "
                       f"{RATE_BPS}bit}}}}\n", encoding="utf-8")
    applied = _netem(stack, "apply", str(profile), "--link", "edge", "--no-calibrate")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    try:
        shown = _netem(stack, "show")
        measured = {version: float(_received_bps(stack, version)["received_bps"]) for version in ("4", "6")}
    finally:
        cleared = _netem(stack, "clear", "--link", "edge")
    assert cleared.returncode == 0, cleared.stderr
    lines = shown.stdout.splitlines() + shown.stderr.splitlines()
    proxy_edge = [line for line in lines if "event=netem.show" in line and "edge.down" in line]
    assert proxy_edge and "qdisc=tbf" in proxy_edge[0], shown.stdout + shown.stderr
    both = f"addresses={topology.ADDRESSES[('proxy', 'edge')]},{topology.ADDRESSES6[('proxy', 'edge')]}"
    assert both in proxy_edge[0], proxy_edge  # `show` lists the end's addresses of both families
    expected = {v: inet.udp_payload_rate_bps(RATE_BPS, PAYLOAD_B, int(v)) for v in ("4", "6")}
    print("received payload bit/s:", {v: round(measured[v]) for v in measured},
          "expected:", {v: round(expected[v]) for v in expected})
    for version in ("4", "6"):
        assert abs(measured[version] / expected[version] - 1) <= RATE_TOLERANCE, (version, measured, expected)
    ratio = measured["4"] / measured["6"]
    want = inet.udp_frame_bytes(PAYLOAD_B, 6) / inet.udp_frame_bytes(PAYLOAD_B, 4)
    assert abs(ratio / want - 1) <= RATIO_TOLERANCE, (ratio, want, measured)
