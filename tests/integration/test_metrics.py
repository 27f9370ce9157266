"""`/metrics` of the running server and proxy, read with prometheus_client's parser: counters move."""

from __future__ import annotations

import http.client
import socket

from prometheus_client.parser import text_string_to_metric_families

from services.common import probe

from .processes import running

Values = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _get(address: tuple[str, int], path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _scrape(address: tuple[str, int]) -> Values:
    status, headers, body = _get(address, "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(body.decode()) for s in f.samples}


def _moved(before: Values, after: Values, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def _echo_probes(relay: tuple[str, int], count: int) -> int:
    answered = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        for seq in range(count):
            sock.sendto(probe.encode(probe.Probe(test_id=7, seq=seq, client_send_ns=1), size=64), relay)
            sock.recvfrom(2048)
            answered += 1
    return answered


def test_server_and_proxy_counters_move_as_requests_are_made() -> None:
    with running("services.server", "--bind", "127.0.0.1", "--http-port", "0", "--udp-port", "0") as server:
        host, port = server.http
        uhost, uport = server.udp
        with running("services.proxy", "--bind", "127.0.0.1", "--http-port", "0", "--udp-port", "0",
                     "--upstream", f"{host}:{port}", "--upstream-udp", f"{uhost}:{uport}",
                     "--allow", f"{host}:{port}") as proxy:
            server_before, proxy_before = _scrape(server.http), _scrape(proxy.http)
            first = _get(proxy.http, "/index.html?metrics")
            second = _get(proxy.http, "/index.html?metrics")
            assert (first[1]["x-cache"], second[1]["x-cache"]) == ("MISS", "HIT")
            assert _echo_probes(proxy.udp, 5) == 5
            server_after, proxy_after = _scrape(server.http), _scrape(proxy.http)

    p = "qoslab_proxy_"
    assert _moved(proxy_before, proxy_after, p + "http_requests_total", status="200", cache="MISS") == 1
    assert _moved(proxy_before, proxy_after, p + "http_requests_total", status="200", cache="HIT") == 1
    assert _moved(proxy_before, proxy_after, p + "http_response_bytes_total", cache="HIT") >= len(second[2])
    assert _moved(proxy_before, proxy_after, p + "upstream_latency_seconds_count") == 1
    assert _moved(proxy_before, proxy_after, p + "upstream_latency_seconds_bucket", le="+Inf") == 1
    assert _moved(proxy_before, proxy_after, p + "cache_lookups_total", result="hit") == 1
    assert _moved(proxy_before, proxy_after, p + "udp_datagrams_total", direction="up") == 5
    assert _moved(proxy_before, proxy_after, p + "udp_datagrams_total", direction="down") == 5
    assert proxy_after[(p + "udp_sessions", ())] == 1
    # the server saw the proxy's one upstream GET (the HIT never reached it), its own first scrape, the probes
    assert _moved(server_before, server_after, "qoslab_server_http_requests_total", status="200") == 2
    assert _moved(server_before, server_after, "qoslab_server_udp_probes_total") == 5
    assert _moved(server_before, server_after, "qoslab_server_http_response_bytes_total") > len(first[2])
