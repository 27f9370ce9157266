"""`--udp-workers`: the count, the SO_REUSEPORT sockets and the shared counters (no processes here)."""

from __future__ import annotations

import errno
import socket

import pytest

from services.proxy.udp_counters import COUNTERS, MAX_ROWS, SharedCounters
from services.proxy.udp_session import bind_shared


def counters(base: int) -> dict[str, int]:
    return {name: base + i for i, name in enumerate(COUNTERS)}


def test_aggregate_sums_every_published_worker_and_their_sessions() -> None:
    shared = SharedCounters(3)
    try:
        shared.publish(0, 4141, counters(10), [{"client": "x"}])
        shared.publish(1, 4242, counters(100), [{"client": "y"}, {"client": "z"}])
        shared.publish(1, 4242, counters(100))  # counters only: the rows stay as last published
        merged = shared.aggregate()
        # worker 2 never published: counted as zeros, flagged by age_s None
        assert merged["workers"] == 3
        assert all(merged[name] == 10 + 100 + 2 * i for i, name in enumerate(COUNTERS))
        assert merged["per_session"] == [{"client": "x"}, {"client": "y"}, {"client": "z"}]
        rows = merged["per_worker"]
        assert [row["worker"] for row in rows] == [0, 1, 2]
        assert rows[1]["pid"] == 4242 and 0 <= rows[1]["age_s"] < 5 and rows[2]["age_s"] is None
        assert rows[1]["packets_up_total"] == counters(100)["packets_up_total"]
        published, pid, values = shared.read(1)
        assert published > 0 and pid == 4242 and values == counters(100)
    finally:
        shared.close()


def test_one_worker_reports_plain_counters_and_rows_that_fit() -> None:
    shared = SharedCounters(1)
    try:
        many = [{"client": f"10.0.{i // 256}.{i % 256}:{40000 + i}", "packets_up": i} for i in range(2000)]
        shared.publish(0, 1, counters(0), many)
        merged = shared.aggregate()
        assert "workers" not in merged and "per_worker" not in merged
        assert merged["per_session"] == many[:MAX_ROWS]
        assert shared.rows(0) == many[:len(shared.rows(0))] and len(shared.rows(0)) >= MAX_ROWS
    finally:
        shared.close()


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
def test_udp_sockets_share_one_port() -> None:
    socks = bind_shared("127.0.0.1", 0, 3)
    try:
        ports = {sock.getsockname()[1] for sock in socks}
        assert len(ports) == 1 and 0 not in ports
        assert all(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for sock in socks)
        assert all(not sock.getblocking() for sock in socks)
    finally:
        for sock in socks:
            sock.close()


def test_a_taken_port_fails_cleanly_although_the_relay_sockets_allow_reuseport() -> None:
    """SO_REUSEPORT on every relay socket (sessions' reply sockets join the port) must not let a second
    proxy share a port another socket holds: that is EADDRINUSE, as it was without SO_REUSEPORT."""
    (sock,) = bind_shared("127.0.0.1", 0, 1)
    plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        plain.bind(("127.0.0.1", 0))
        for taken in (sock, plain):
            with pytest.raises(OSError) as refused:
                bind_shared("127.0.0.1", taken.getsockname()[1], 2)
            assert refused.value.errno == errno.EADDRINUSE
    finally:
        sock.close()
        plain.close()
