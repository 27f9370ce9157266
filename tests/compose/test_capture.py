"""`python -m netem capture` on the running stack: the pcap holds what crossed the edge link.

Read with netem.tools.pcap (and, as a cross-check, tshark): the QoS probes and their replies, and the HTTP
exchange, with the stack's addresses and ports. Where the kernel has netem (the VM runs this file's delay
test: tests/vm/test_compose_vm.py), a delay applied to the proxy's edge end shows as the time between each
probe and its reply at that end.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from netem import topology
from netem.core.expect import parse_rows
from netem.tools.capability import probe_docker
from netem.tools.pcap import Packet, probe_exchanges, read_pcap

from .conftest import REPO, Stack, artifacts_dir
from .netem_stack import NetemStack

PROXY_EDGE, PROXY_EDGE6 = topology.ADDRESSES[("proxy", "edge")], topology.ADDRESSES6[("proxy", "edge")]
EDGE, EDGE6 = ipaddress.ip_network(topology.SUBNETS["edge"]), ipaddress.ip_network(topology.SUBNETS6["edge"])
RELAY, PROXY_HTTP = topology.port("proxy", "udp"), topology.port("proxy", "http")
RELAY_AT, PROXY_AT = topology.named_endpoint("proxy", "udp"), topology.named_endpoint("proxy", "http")
DELAY_PROFILE = "tests/vm/profiles/edge-delay-50ms.yaml"  # 50 ms on each end of edge
PROBES = 30
DELAY_S = 0.050  # what DELAY_PROFILE puts on the proxy's edge egress
REFERENCE_S = 0.001  # the reference capture's delay on the same end (the same netem timer path)


def _netem(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netem", "--project", stack.project, *args], cwd=REPO,
                          env=stack.env, capture_output=True, text=True, timeout=120, check=False)


def _start_capture(stack: Stack) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "netem", "--project", stack.project, "capture", "edge"]
    # with the fault handler on, a capture that does not stop dumps where each of its threads waits
    proc = subprocess.Popen(argv, cwd=REPO, env={**stack.env, "PYTHONFAULTHANDLER": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_capturing(proc, 60)
    return proc


def _stop_capture(proc: subprocess.Popen[str]) -> tuple[Path, str]:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C does
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # the fault handler prints every thread's stack, then it ends
        out, err = proc.communicate(timeout=30)
        raise AssertionError(f"`netem capture` still ran 30 s after SIGINT:\n{err[-6000:]}") from None
    assert proc.returncode == 0, err
    return Path(out.strip().splitlines()[-1]), err.strip()


def _received(stdout: str) -> int:
    """Replies the client counted, from its --json rows (one per family: the run is over both)."""
    rows = [row for row in parse_rows(stdout) if row.get("kind") == "qos"]
    assert sorted(str(row["ip_version"]) for row in rows) == ["4", "6"], stdout[-2000:]
    return sum(int(row["packets_received"]) for row in rows)


def _captured_run(stack: Stack, label: str, *more: list[str]) -> tuple[Path, list[Packet], int, str]:
    """Capture the edge at the proxy while the client sends PROBES probes to the relay, then runs each of
    `more` (client subcommands), each over IPv4 and then IPv6: (pcap, its packets, replies the client
    counted, tcpdump's summary)."""
    capture = _start_capture(stack)
    try:
        code, out, err = stack.client("qos", "--target", RELAY_AT, "--count", str(PROBES), "--interval",
                                      "20ms", "--label", label, "--json", "--family", "both")
        assert code == 0, out[-2000:] + err[-2000:]
        for argv in more:
            assert stack.client(*argv, "--label", label, "--family", "both")[0] == 0
    finally:
        path, summary = _stop_capture(capture)
    return path, list(read_pcap(path.read_bytes())), _received(out), summary


def test_edge_capture_holds_probes_and_http_exchange(stack: Stack) -> None:
    path, packets, received, summary = _captured_run(stack, "capture-test",
                                                     ["http", f"http://{PROXY_AT}/index.html?capture"])

    assert path.parent == stack.results_dir / "captures"
    assert re.fullmatch(r"edge-proxy-\d{8}T\d{6}Z\.pcap", path.name), path.name
    exchanges = probe_exchanges(packets)
    # every reply the client got crossed the capture point (plus its readiness probes), in both families
    assert received >= 2 * PROBES * 0.9 and len(exchanges) >= received, \
        (received, summary, sorted((e.test_id, e.seq) for e in exchanges))
    assert {e.target for e in exchanges} == {(PROXY_EDGE, RELAY), (PROXY_EDGE6, RELAY)}
    for proxy, edge in ((PROXY_EDGE, EDGE), (PROXY_EDGE6, EDGE6)):
        clients = {e.client[0] for e in exchanges if e.target[0] == proxy}
        assert clients and all(ipaddress.ip_address(c) in edge and c != proxy for c in clients), clients
    assert all(e.gap_s > 0 for e in exchanges)

    for proxy in (PROXY_EDGE, PROXY_EDGE6):
        requests = [p for p in packets if p.proto == "tcp" and (p.dst, p.dport) == (proxy, PROXY_HTTP)
                    and p.payload.startswith(b"GET /index.html?capture HTTP/1.1\r\n")]
        assert len(requests) == 1, f"the client's GET crossed the edge once to {proxy}"
        client = (requests[0].src, requests[0].sport)
        replies = [p for p in packets if p.proto == "tcp" and (p.src, p.sport) == (proxy, PROXY_HTTP)
                   and (p.dst, p.dport) == client and p.payload.startswith(b"HTTP/1.1 200 ")]
        assert replies and b"\r\nX-Cache: " in replies[0].payload

    # tshark (Wireshark's reader) opens the same file and sees the same packets
    tshark = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number"],
                            capture_output=True, text=True, timeout=120, check=False,
                            env={**os.environ, "HOME": str(stack.results_dir)})
    assert tshark.returncode == 0, tshark.stderr
    assert len(tshark.stdout.split()) == len(packets)
    artifacts_dir().mkdir(parents=True, exist_ok=True)
    shutil.copy(path, artifacts_dir() / "capture-edge.pcap")


def test_the_controller_image_captures_with_docker_only(stack: Stack) -> None:
    """`docker compose run --rm netem capture edge`: tcpdump in a sidecar of the controller image (no
    tcpdump, nsenter or root needed on the host); the pcap lands in the results directory on the host
    and holds the probes and replies the client counted, in both families."""
    built = stack.compose("--profile", "tools", "build", "--quiet", "netem", check=False, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    argv = ["docker", "compose", "-p", stack.project, "run", "--rm", "-T", "netem", "capture", "edge",
            "--duration", "8s"]
    proc = subprocess.Popen(argv, cwd=REPO, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        _wait_capturing(proc)
        code, out, err = stack.client("qos", "--target", RELAY_AT, "--count", str(PROBES), "--interval",
                                      "20ms", "--label", "capture-container", "--json", "--family", "both")
        assert code == 0, out[-2000:] + err[-2000:]
        said, errors = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, errors[-3000:]
    inside = Path(said.strip().splitlines()[-1])  # the path as the controller container sees it
    assert inside.parent == Path("/results/captures"), said
    path = stack.results_dir / "captures" / inside.name
    exchanges = probe_exchanges(list(read_pcap(path.read_bytes())))
    received = _received(out)
    assert received >= 2 * PROBES * 0.9 and len(exchanges) >= received, (received, errors[-2000:])
    assert {e.target for e in exchanges} == {(PROXY_EDGE, RELAY), (PROXY_EDGE6, RELAY)}


def _wait_capturing(proc: subprocess.Popen[str], timeout_s: float = 120.0) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        if line.startswith("capturing edge at proxy"):
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"capture did not start (exit {proc.poll()}): {''.join(seen)}")


def test_a_netem_delay_on_the_edge_shows_between_each_probe_and_its_reply(netem_stack: NetemStack,
                                                                         tmp_path: Path) -> None:
    """With sch_netem (a netem host, or the VM: tests/vm/test_compose_vm.py runs this), 50 ms on the
    proxy's edge egress holds every reply that long before the capture sees it. The reference is a capture
    with 1 ms on the same end in the same run: the median gap grows by the 49 ms between them, whatever
    the kernel's timer slack per delayed packet (large under emulation on a busy host) adds to both.
    Without sch_netem the profile is refused with the kernel's reason and nothing is applied."""
    found = probe_docker("qoslab/proxy:dev")  # the kernel the containers run on
    assert found.netem is not None, found.detail
    if not found.netem:
        applied = _netem(netem_stack, "apply", DELAY_PROFILE, "--link", "edge", "--no-calibrate")
        assert applied.returncode == 1 and "this kernel has no sch_netem" in applied.stderr, applied.stderr
        shown = _netem(netem_stack, "show")
        ends = [line for line in shown.stdout.splitlines() if "event=netem.show" in line]
        assert shown.returncode == 0 and ends, shown.stderr
        assert not any("qdisc=netem" in line for line in ends), shown.stdout
        return
    reference = tmp_path / "edge-delay-1ms.yaml"
    reference.write_text(f"description: the reference, {REFERENCE_S * 1000:g} ms on edge\n"
                         f"edge: {{delay: {REFERENCE_S * 1000:g}ms}}\n", encoding="utf-8")
    measured: dict[float, list[float]] = {}
    try:
        for delay_s, profile in ((REFERENCE_S, str(reference)), (DELAY_S, DELAY_PROFILE)):
            applied = _netem(netem_stack, "apply", profile, "--link", "edge", "--no-calibrate")
            assert applied.returncode == 0, applied.stderr
            _, packets, received, summary = _captured_run(netem_stack, f"capture-{delay_s * 1000:g}ms")
            exchanges = probe_exchanges(packets)
            assert received >= 2 * PROBES * 0.9 and len(exchanges) >= received, (received, summary)
            measured[delay_s] = sorted(e.gap_s for e in exchanges)
    finally:
        _netem(netem_stack, "clear", "--link", "edge")
    base, gaps = measured[REFERENCE_S], measured[DELAY_S]
    assert gaps[0] >= DELAY_S * 0.9, gaps[:5]  # no reply escaped the delay
    added = statistics.median(gaps) - statistics.median(base)
    noise = base[int(len(base) * 0.9)] - base[0]  # the path's own spread, measured in the same run
    expected = DELAY_S - REFERENCE_S
    ms = {"reference": statistics.median(base), "delayed": statistics.median(gaps), "min": gaps[0],
          "added": added, "expected": expected, "noise": noise}
    print("capture gaps (ms):", ", ".join(f"{k} {v * 1000:.3f}" for k, v in ms.items()))
    assert abs(added - expected) <= max(0.03 * expected, 0.001) + noise, (added, noise, gaps[:5], base[:5])


def test_scenario_with_capture_keeps_one_pcap_per_client_run(stack: Stack, tmp_path: Path) -> None:
    plan = tmp_path / "captured.yaml"
    plan.write_text('profiles: [none]\ntests: [qos]\nrepetitions: 2\ncapture: edge\n'
                    'client_args: {qos: ["--count", "20", "--interval", "10ms"]}\n', encoding="utf-8")
    out = tmp_path / "out"
    done = _netem(stack, "scenario", "run", str(plan), "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "scenario-captured.jsonl").read_text().splitlines()]
    files = [Path(row["capture"]) for row in rows]
    assert len(files) == 2 and len(set(files)) == 2, files
    for rep, (row, path) in enumerate(zip(rows, files, strict=True), start=1):
        assert path.parent == out / "captures"
        assert path.name.startswith(f"captured-none-r{rep}-qos-edge-proxy-"), path.name
        exchanges = probe_exchanges(list(read_pcap(path.read_bytes())))
        assert int(row["packets_received"]) >= 1 and len(exchanges) >= int(row["packets_received"]), \
            (row, sorted((e.test_id, e.seq) for e in exchanges))
