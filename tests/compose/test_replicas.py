"""Client replicas (`docker compose up --scale client=N`): addresses from IPAM, every replica's suite
rows whole in the one shared CSV with a `replica` column, and the netem controller covering each
replica's edge interface and the proxy's side of the edge.

N is QOSLAB_REPLICAS (default 3; the issue's target of 20 is `QOSLAB_REPLICAS=20`).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from services.client import results

from .conftest import Stack
from .test_netem import events, netem

REPLICAS = int(os.environ.get("QOSLAB_REPLICAS", "3"))
SUITE_KINDS = ["http_miss", "http_hit", "qos", "load"]
# compose's default suite runs each test over IPv4, then IPv6 (CLIENT_FAMILY=both)
SUITE_ROWS = [(kind, version) for version in ("4", "6") for kind in SUITE_KINDS]


def _inspect(*ids: str) -> list[dict[str, Any]]:
    done = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True, timeout=60)
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


@pytest.fixture
def replicas(stack: Stack) -> Iterator[list[str]]:
    """REPLICAS − 1 more client containers beside the stack's first one, started together; each runs the
    suite once. The first client is not restarted and the extra ones are removed afterwards, so the other
    compose tests see the stack as `up` left it."""
    first = set(stack.compose("ps", "-a", "-q", "client").stdout.split())
    stack.compose("up", "--no-start", "--no-recreate", "--scale", f"client={REPLICAS}", "client", timeout=600)
    added = [c for c in stack.compose("ps", "-a", "-q", "client").stdout.split() if c not in first]
    try:
        subprocess.run(["docker", "start", *added], capture_output=True, check=True, timeout=300)
        subprocess.run(["docker", "wait", *added], capture_output=True, check=True, timeout=600)
        yield [*first, *added]
    finally:
        subprocess.run(["docker", "rm", "-f", *added], capture_output=True, timeout=300)


@pytest.mark.compose
def test_scaled_clients_each_write_their_suite_rows_whole(stack: Stack, replicas: list[str]) -> None:
    states = _inspect(*replicas)
    assert len(states) == REPLICAS
    assert [s["State"]["ExitCode"] for s in states] == [0] * REPLICAS, stack.logs("client")[-4000:]
    # no fixed address: IPAM gives each replica its own (they ran at once, so they could not share one)
    edge = [next(v for k, v in s["NetworkSettings"]["Networks"].items() if k.endswith("_edge"))
            for s in states]
    assert all(not (e.get("IPAMConfig") or {}).get("IPv4Address") for e in edge), edge
    # nor a fixed IPv6 one (an exited container shows no address; each replica's IPv6 rows below show
    # it had one)
    assert all(not (e.get("IPAMConfig") or {}).get("IPv6Address") for e in edge), edge

    path = stack.results_dir / "qos_result.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == list(results.COLUMNS) and lines.count(lines[0]) == 1
    assert all(len(line) == len(results.COLUMNS) for line in lines)  # every row whole
    short_ids = {s["Id"][:12] for s in states}
    rows = [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]
    rows = [row for row in rows if row["replica"] in short_ids]  # other tests' one-off runs aside
    runs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    by_replica: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        runs[row["run_id"]].append((row["kind"], row["ip_version"]))
        by_replica[row["replica"]].add(row["run_id"])
    assert all(kinds == SUITE_ROWS for kinds in runs.values()), runs
    print(f"{REPLICAS} replicas: {len(rows)} rows, {len(runs)} suite runs, "
          f"rows per replica {sorted(len(r) * len(SUITE_ROWS) for r in by_replica.values())}")
    assert set(by_replica) == short_ids, (sorted(by_replica), sorted(short_ids))  # one name per replica
    assert all(len(r) == 1 for r in by_replica.values())  # each replica ran its suite once


@pytest.fixture
def running_clients(stack: Stack) -> Iterator[list[str]]:
    """Three client containers that stay up (the suite's replicas exit when done), each started with
    NETEM_PROFILE=rate-10mbit (tbf only: works without sch_netem), which it applies to its own edge end."""
    started = []
    try:
        for _ in range(3):
            # the image's entrypoint is `qoslab-entrypoint python3 -m services.client`: keep the start-up
            # (netem, dropping root), replace the command
            done = stack.compose("run", "-d", "--no-deps", "-e", "NETEM_PROFILE=rate-10mbit",
                                 "--entrypoint", "qoslab-entrypoint", "client",
                                 "python3", "-c", "import time; time.sleep(300)")
            started.append(done.stdout.strip().splitlines()[-1])
        yield started
    finally:
        if started:
            subprocess.run(["docker", "rm", "-f", *started], capture_output=True, timeout=120)


@pytest.mark.compose
def test_netem_controller_covers_every_replica_and_the_proxy_edge(
        stack: Stack, running_clients: list[str]) -> None:
    names = {state["Name"].lstrip("/") for state in _inspect(*running_clients)}
    try:
        at_start = netem(stack, "show")
        assert at_start.returncode == 0, at_start.stderr
        shaped_at_start = {e["target"].split(":")[0]: e for e in events(at_start.stdout, "netem.show")}
        for name in names:  # NETEM_PROFILE at start: each replica shaped its own edge end
            assert shaped_at_start[name]["qdisc"] == "tbf", shaped_at_start[name]
            assert shaped_at_start[name]["target"].endswith("(edge.up)")
        done = netem(stack, "apply", "rate-10mbit", "--link", "edge", "--no-calibrate")
        assert done.returncode == 0, done.stdout + done.stderr
        # target labels: CONTAINER:DEV (LINK.DIRECTION)
        shaped = {e["target"].split(":")[0]: e["target"] for e in events(done.stdout, "netem.readback")
                  if e.get("qdisc") == "tbf"}
        assert names <= set(shaped), (names, shaped)
        assert all(shaped[n].endswith("(edge.up)") for n in names)
        assert [t for t in shaped.values() if t.endswith("(edge.down)")], shaped  # the proxy's side
        show = netem(stack, "show")
        assert show.returncode == 0, show.stderr
        seen = {e["target"].split(":")[0] for e in events(show.stdout, "netem.show")
                if e.get("qdisc") == "tbf"}
        assert names <= seen, (names, seen)
    finally:
        cleared = netem(stack, "clear")
        assert cleared.returncode == 0, cleared.stdout + cleared.stderr
