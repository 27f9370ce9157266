"""HTTP timing, load and the whole suite against a tiny caching stand-in and the impairment echo."""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from services.client import cli, results
from services.client.runs import RunContext, http_test, load_test

BODY = b"<html>qoslab</html>\n" * 500


class _CacheLike(BaseHTTPRequestHandler):
    """Answers every GET with the same body and X-Cache: MISS the first time a path is seen, HIT after."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    seen: ClassVar[set[str]] = set()
    warming: ClassVar[int] = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            state = "HIT" if self.path in self.seen else "MISS"
            self.seen.add(self.path)
        status = 404 if self.path.endswith("/missing") else 200
        if self.path.endswith("/warming"):
            with self.lock:
                _CacheLike.warming += 1
                status = 503 if _CacheLike.warming <= 2 else 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("X-Cache", state)
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    _CacheLike.seen = set()
    _CacheLike.warming = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CacheLike)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_http_timing_and_cache_header(web: str) -> None:
    ctx = RunContext("t1")
    first = http_test(f"http://{web}/index.html", None, ctx)
    second = http_test(f"http://{web}/index.html", None, ctx)
    assert (first["http_status"], first["x_cache"], second["x_cache"]) == (200, "MISS", "HIT")
    assert first["body_bytes"] == len(BODY) and first["ok"] is True
    assert 0 < first["connect_ms"] < first["total_ms"] and 0 < first["ttfb_ms"] <= first["total_ms"]
    assert first["goodput_mbps"] > 0


def test_http_failures_are_rows_not_crashes(web: str) -> None:
    ctx = RunContext("t2")
    assert http_test(f"http://{web}/missing", None, ctx)["error"] == "HTTP 404"
    refused = http_test("http://127.0.0.1:1/", None, ctx)
    assert refused["ok"] is False and "refused" in refused["error"]


def test_first_contact_waits_for_a_starting_upstream(web: str) -> None:
    row = http_test(f"http://{web}/warming", None, RunContext("t5"), ready_timeout_s=5.0)
    assert row["http_status"] == 200 and row["ok"] is True
    missing = http_test(f"http://{web}/missing", None, RunContext("t6"), ready_timeout_s=5.0)
    assert missing["http_status"] == 404


def test_load_counts_requests_and_errors(web: str) -> None:
    row = load_test(f"http://{web}/a", None, clients=5, requests=53, ctx=RunContext("t3"))
    assert (row["requests_ok"], row["errors"], row["ok"]) == (53, 0, True)
    assert row["req_per_s"] > 0 and row["latency_median_ms"] <= row["latency_p99_ms"]
    bad = load_test(f"http://{web}/missing", None, clients=2, requests=4, ctx=RunContext("t4"))
    assert bad["errors_by_kind"] == "http_404=4" and bad["ok"] is False


def test_suite_appends_rows_and_exits_0(web: str, impaired: Callable[..., Any], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    net = impaired(seed=1, count=10)
    csv_path = tmp_path / "qos_result.csv"
    argv = ["suite", "--url", f"http://{web}/index.html", "--proxy", "none", "--target",
            f"127.0.0.1:{net.echo_port}", "--csv", str(csv_path), "--suite-count", "50",
            "--suite-interval", "2ms", "--label", "ci", "--profile", "none", "--requests", "20"]
    assert cli.main(argv) == 0
    assert cli.main(argv) == 0  # a fresh cache key per run: MISS then HIT again
    assert cli.main([*argv, "--no-cache-bust"]) == 1  # the load tests cached the plain URL already
    rows = results.read_rows(csv_path)
    assert [r["kind"] for r in rows] == ["http_miss", "http_hit", "qos", "load"] * 3
    assert rows[0]["x_cache"] == "MISS" and rows[1]["x_cache"] == "HIT"
    assert int(rows[2]["packets_sent"]) + int(rows[2]["missed_sends"]) == 50
    assert rows[2]["lost_packets"] == "0"
    assert {r["label"] for r in rows} == {"ci"} and len({r["run_id"] for r in rows}) == 3
    assert "qoslab_run=" in rows[0]["url"] and rows[8]["error"].startswith("expected X-Cache MISS")
    out = capsys.readouterr().out
    assert "test        result" in out and "FAILED" in out


def test_http_command_cache_bust_gives_a_true_miss_each_run(web: str, tmp_path: Path) -> None:
    csv_path = tmp_path / "http.csv"
    argv = ["http", f"http://{web}/page", "--proxy", "none", "--repeat", "2", "--cache-bust",
            "--csv", str(csv_path)]
    assert cli.main(argv) == 0
    assert cli.main(argv) == 0
    assert cli.main(["http", f"http://{web}/page", "--proxy", "none", "--csv", str(csv_path)]) == 0
    assert cli.main(["http", f"http://{web}/page", "--proxy", "none", "--csv", str(csv_path)]) == 0
    rows = list(csv.DictReader(csv_path.read_text().splitlines()))
    assert [r["x_cache"] for r in rows] == ["MISS", "HIT", "MISS", "HIT", "MISS", "HIT"]
    assert all("qoslab_run=" in r["url"] for r in rows[:4])
    assert "qoslab_run=" not in rows[4]["url"]
