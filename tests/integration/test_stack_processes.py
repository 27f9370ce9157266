"""The three services as processes on 127.0.0.1: the whole path works without Docker."""

from __future__ import annotations

import csv
import http.client
import os
import socket
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path

from services.common import probe

from .processes import REPO, Service, running


def _get(address: tuple[str, int], path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _addr(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


def _server() -> AbstractContextManager[Service]:
    return running("services.server", "--bind", "127.0.0.1", "--http-port", "0", "--udp-port", "0")


def _proxy(server: Service) -> AbstractContextManager[Service]:
    host, port = server.http
    uhost, uport = server.udp
    return running("services.proxy", "--bind", "127.0.0.1", "--http-port", "0", "--udp-port", "0",
                   "--upstream", f"{host}:{port}", "--upstream-udp", f"{uhost}:{uport}",
                   "--allow", f"{host}:{port}")


def test_http_miss_then_hit_through_the_proxy() -> None:
    with _server() as server, _proxy(server) as proxy:
        status1, headers1, body1 = _get(proxy.http, "/index.html")
        status2, headers2, body2 = _get(proxy.http, "/index.html")
        _, _, direct = _get(server.http, "/index.html")
    assert (status1, status2) == (200, 200)
    assert headers1.get("x-cache") == "MISS"
    assert headers2.get("x-cache") == "HIT"
    assert body1 == body2 == direct


def test_udp_probe_is_echoed_and_stamped_through_the_relay() -> None:
    with _server() as server, _proxy(server) as proxy, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        request = probe.encode(probe.Probe(test_id=42, seq=7, client_send_ns=123), size=200)
        sock.sendto(request, proxy.udp)
        reply, _ = sock.recvfrom(2048)
        sock.sendto(b"plain datagram", proxy.udp)
        plain, _ = sock.recvfrom(2048)
    decoded = probe.decode(reply)
    assert len(reply) == 200
    assert (decoded.test_id, decoded.seq, decoded.client_send_ns) == (42, 7, 123)
    assert decoded.is_reply and decoded.is_stamped
    assert decoded.flags & probe.FLAG_COUNTED and decoded.server_count == 1
    assert 0 < decoded.server_recv_ns <= decoded.server_send_ns
    assert plain == b"plain datagram"


def test_client_suite_writes_csv_rows_through_the_proxy(tmp_path: Path) -> None:
    csv_path = tmp_path / "qos_result.csv"
    with _server() as server, _proxy(server) as proxy:
        phost, pport = proxy.http
        uhost, uport = proxy.udp
        env = {**os.environ, "PYTHONPATH": str(REPO), "CLIENT_URL": f"http://{phost}:{pport}/index.html",
               "CLIENT_PROXY": f"{phost}:{pport}", "CLIENT_UDP_TARGET": f"{uhost}:{uport}",
               "CLIENT_CSV": str(csv_path), "CLIENT_LABEL": "integration"}
        for _ in range(2):
            done = subprocess.run([sys.executable, "-m", "services.client", "suite"], cwd=REPO, env=env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = csv_path.read_text()
    header = text.splitlines()[0]
    assert text.count(header) == 1
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) >= 6  # at least three tests per run, two runs
    assert {row["label"] for row in rows} == {"integration"}


def test_direct_mode_adds_rows_for_the_path_without_the_proxy(tmp_path: Path) -> None:
    csv_path = tmp_path / "qos_result.csv"
    with _server() as server, _proxy(server) as proxy:
        phost, pport = proxy.http
        shost, sport = server.http
        env = {**os.environ, "PYTHONPATH": str(REPO), "CLIENT_URL": f"http://{phost}:{pport}/index.html",
               "CLIENT_PROXY": f"{phost}:{pport}", "CLIENT_UDP_TARGET": _addr(proxy.udp),
               "CLIENT_DIRECT_URL": f"http://{shost}:{sport}/index.html",
               "CLIENT_DIRECT_UDP_TARGET": _addr(server.udp), "CLIENT_CSV": str(csv_path)}
        done = subprocess.run([sys.executable, "-m", "services.client", "suite"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {row["kind"]: row for row in csv.DictReader(csv_path.read_text().splitlines())}
    assert set(rows) == {"http_miss", "http_hit", "qos", "load", "http_direct", "qos_direct"}
    assert rows["http_direct"]["x_cache"] == "" and rows["http_direct"]["http_status"] == "200"
    assert rows["qos_direct"]["target"] == _addr(server.udp)
    assert rows["qos_direct"]["lost_packets"] == "0"
