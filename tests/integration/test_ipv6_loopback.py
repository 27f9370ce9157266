"""The services and the client over IPv6 loopback (`::1`): serve, cache, relay, refuse bad v6 input.

Where the machine has no `::1` (IPv6 disabled, as in many containers), each test checks the other
outcome instead: a service asked to listen on `::1` exits at once and says why.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from services.common.inet import format_host_port
from services.common.listen import can_bind

from .processes import REPO, Service, running

V6 = can_bind("::1")


def _server() -> AbstractContextManager[Service]:
    return running("services.server", "--bind", "::1", "--http-port", "0", "--udp-port", "0")


def _proxy(server: Service, *extra: str) -> AbstractContextManager[Service]:
    return running("services.proxy", "--bind", "::1", "--http-port", "0", "--udp-port", "0",
                   "--upstream", format_host_port(*server.http),
                   "--upstream-udp", format_host_port(*server.udp), *extra)


@contextmanager
def _stack(*proxy_args: str) -> Iterator[tuple[Service, Service]]:
    with _server() as server, _proxy(server, *proxy_args) as proxy:
        yield server, proxy


def _exchange(address: tuple[str, int], raw: bytes) -> bytes:
    """Send raw request bytes over IPv6, read the answer until the server closes or 5 s pass."""
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data and b"Connection: close" not in raw:
                    break
        except TimeoutError:
            pass
    return data


def _get(address: tuple[str, int], target: str, host: str | None = None) -> tuple[int, bytes]:
    host_value = host if host is not None else format_host_port(*address)
    answer = _exchange(address, f"GET {target} HTTP/1.1\r\nHost: {host_value}\r\nConnection: close\r\n\r\n"
                       .encode("latin-1"))
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, answer


def _no_v6_refusal() -> None:
    """Without `::1`, the server exits with an error naming the bind address (never hangs or serves v4)."""
    proc = subprocess.run([sys.executable, "-m", "services.server", "--bind", "::1", "--http-port", "0",
                           "--udp-port", "0"], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode != 0 and "::1" in proc.stdout + proc.stderr


def test_server_and_proxy_serve_and_cache_over_v6() -> None:
    if not V6:
        _no_v6_refusal()
        return
    with _stack() as (server, proxy):
        assert proxy.http[0] == "::1" and server.http[0] == "::1"
        first, miss = _get(proxy.http, "/index.html")
        second, hit = _get(proxy.http, "/index.html")
        direct, origin = _get(server.http, "/index.html")
    assert (first, second, direct) == (200, 200, 200)
    assert b"X-Cache: MISS" in miss and b"X-Cache: HIT" in hit
    assert miss.split(b"\r\n\r\n", 1)[1] == origin.split(b"\r\n\r\n", 1)[1]


BAD_REVERSE = [
    ("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),                      # the reverse proxy answered 200
    ("GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", 400),
    ("GET / HTTP/1.1\r\nHost: [fe80::1%eth0]\r\n\r\n", 400),            # a zone in Host is %25zone
    ("GET / HTTP/1.1\r\nHost: [fe80::1%25]\r\n\r\n", 400),
    ("GET http://[::1/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("GET http://[::1]x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]:8081\r\n\r\n", 200),    # valid: answered as any Host
]


def test_bad_v6_input_gets_400_from_both_services_and_never_an_exception() -> None:
    if not V6:
        _no_v6_refusal()
        return
    with _stack() as (server, proxy):
        for service in (proxy, server):
            for raw, expected in BAD_REVERSE:
                answer = _exchange(service.http, raw.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
                                   .encode("latin-1"))
                assert answer.startswith(f"HTTP/1.1 {expected} ".encode()), (service.http, raw, answer[:80])
        output = proxy.output() + server.output()
    assert "Traceback" not in output and "internal_error" not in output


def test_forward_mode_takes_allowed_v6_literals_and_refuses_the_rest() -> None:
    if not V6:
        _no_v6_refusal()
        return
    with _server() as server:
        origin = format_host_port(*server.http)
        port = server.http[1]
        with _proxy(server, "--mode", "forward", "--allow", f"{origin},[fe80::1%lo]:{port}") as proxy:
            verdicts = {target: _get(proxy.http, target, "x")[0] for target in (
                f"http://{origin}/index.html",                       # allowed: 200, then a hit
                f"http://[0:0::1]:{port}/index.html",                # the same address, another spelling
                f"http://[::1]:{port + 1}/index.html",               # another port
                f"http://[::ffff:127.0.0.1]:{port}/index.html",      # v4-mapped loopback, not listed
                f"http://[64:ff9b::7f00:1]:{port}/index.html",       # NAT64 of 127.0.0.1, not listed
                f"http://[fe80::1%25eth9]:{port}/",                  # link-local on another link
                f"http://[fe80::1%eth9]:{port}/",                    # zone not written %25
                f"http://[::]:{port}/",                              # unspecified: this host itself
                "http://[::1/",
            )}
            again, hit = _get(proxy.http, f"http://{origin}/index.html", "x")
            connect = _exchange(proxy.http, f"CONNECT [::1]:{port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            output = proxy.output()
    assert list(verdicts.values()) == [200, 200, 403, 403, 403, 403, 400, 403, 400], verdicts
    assert again == 200 and b"X-Cache: HIT" in hit
    assert connect.startswith(b"HTTP/1.1 403 "), connect[:60]  # CONNECT only to ports 443/8000/8080
    assert "Traceback" not in output and "internal_error" not in output


def _client(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.client", *args], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=120, check=False)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_relay_relays_v6_probes_and_the_rows_say_ipv6(tmp_path: Path) -> None:
    if not V6:
        _no_v6_refusal()
        return
    results, raw = tmp_path / "q.csv", tmp_path / "raw.csv"
    with _stack() as (_, proxy):
        relay = format_host_port(*proxy.udp)
        done = _client("qos", "-6", "--target", relay, "--count", "100", "--interval", "2ms",
                       "--csv", str(results), "--raw", str(raw))
        http = _client("http", "--family", "6", f"http://{format_host_port(*proxy.http)}/index.html",
                       "--proxy", format_host_port(*proxy.http), "--repeat", "2", "--csv", str(results))
        refused = _client("qos", "-4", "--target", relay, "--csv", str(results))
    assert done.returncode == 0, done.stderr
    assert http.returncode == 0, http.stderr
    assert refused.returncode == 2 and "IPv6 address, but IPv4" in refused.stderr
    qos, miss, hit = _rows(results)
    assert (qos["kind"], qos["ip_version"], qos["target"], qos["lost_packets"]) == ("qos", "6", relay, "0")
    assert int(qos["packets_sent"]) + int(qos["missed_sends"]) == 100  # a busy machine may skip slots
    assert qos["packets_received"] == qos["packets_sent"]
    assert float(qos["rtt_median_ms"]) > 0
    assert [(r["ip_version"], r["x_cache"]) for r in (miss, hit)] == [("6", "MISS"), ("6", "HIT")]
    assert {r["ip_version"] for r in _rows(raw)} == {"6"}


def _resolves_v6(name: str) -> bool:
    try:
        return bool(socket.getaddrinfo(name, 1, socket.AF_INET6, socket.SOCK_STREAM))
    except socket.gaierror:
        return False


def test_suite_over_both_families_side_by_side(tmp_path: Path) -> None:
    """Services on both loopbacks (one port per service for both families); the suite runs each test
    over IPv4 and then IPv6, every row says which, and the summary puts them side by side."""
    if not V6:
        _no_v6_refusal()
        return
    results = tmp_path / "q.csv"
    both = "127.0.0.1,::1"
    with running("services.server", "--bind", both, "--http-port", "0", "--udp-port", "0") as server, \
            running("services.proxy", "--bind", both, "--http-port", "0", "--udp-port", "0",
                    "--upstream", format_host_port(*server.http),
                    "--upstream-udp", format_host_port(*server.udp)) as proxy:
        listening = next(line for line in proxy.lines if "proxy.listening" in line)
        port = proxy.http[1]
        done = _client("suite", "--family", "both", "--url", f"http://localhost:{port}/index.html",
                       "--proxy", "none", "--target", f"localhost:{proxy.udp[1]}", "--suite-count", "100",
                       "--suite-interval", "2ms", "--requests", "50", "--csv", str(results))
    assert f"http=127.0.0.1:{port},[::1]:{port}" in listening, listening
    rows = _rows(results)
    header = next(line for line in done.stdout.splitlines() if line.startswith("test "))
    assert header.split() == ["test", "IPv4", "IPv6"]
    qos_line = next(line for line in done.stdout.splitlines() if line.startswith("qos "))
    kinds = ("http_miss", "http_hit", "qos", "load")
    v4, v6 = rows[:4], rows[4:]
    assert [(r["kind"], r["ip_version"], r["ok"]) for r in v4] == [(kind, "4", "1") for kind in kinds]
    assert [r["x_cache"] for r in v4[:2]] == ["MISS", "HIT"]
    if _resolves_v6("localhost"):
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert [(r["kind"], r["ip_version"], r["ok"]) for r in v6] == [(kind, "6", "1") for kind in kinds]
        assert [r["x_cache"] for r in v6[:2]] == ["MISS", "HIT"]  # its own cache key: a miss again
        assert qos_line.count("rtt ") == 2 and "FAILED" not in done.stdout
    else:  # this host's resolver has no ::1 for localhost: the IPv6 half fails and says why, nothing else
        assert done.returncode == 1 and [(r["kind"], r["ok"], r["ip_version"]) for r in v6] == [
            (kind, "0", "") for kind in kinds]
        assert all("localhost has no IPv6 address" in r["error"] for r in v6), v6
        assert qos_line.count("rtt ") == 1 and "FAILED localhost has no IPv6" in qos_line


def test_responsiveness_over_ipv6(tmp_path: Path) -> None:
    """`responsiveness -6`: load flows, foreign probes and UDP probes all over IPv6; the rows say so."""
    if not V6:
        _no_v6_refusal()
        return
    results = tmp_path / "q.csv"
    with _stack() as (_, proxy):
        base = f"http://{format_host_port(*proxy.http)}"
        done = _client("responsiveness", "-6", "--proxy", "none", "--target", format_host_port(*proxy.udp),
                       "--download-url", f"{base}/index.html", "--upload-url", f"{base}/_server/sink",
                       "--probe-url", f"{base}/index.html", "--phases", "idle,download", "--idle-time", "1s",
                       "--load-time", "2s", "--gap", "0.5s", "--window", "1s", "--flows-down", "1",
                       "--csv", str(results))
        wrong = _client("responsiveness", "-4", "--proxy", "none", "--target", format_host_port(*proxy.udp),
                        "--download-url", f"{base}/index.html", "--csv", "")
    rows = _rows(results)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [(r["phase"], r["ip_version"]) for r in rows] == [("idle", "6"), ("download", "6"), ("all", "6")]
    assert wrong.returncode == 2 and "IPv6 address, but IPv4 was asked for" in wrong.stderr
    assert float(rows[0]["rtt_median_ms"]) > 0 and float(rows[1]["throughput_down_bps"]) > 0
