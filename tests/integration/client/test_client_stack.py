"""The client against the real server and proxy as processes on 127.0.0.1 (skipped if they cannot start)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.client import cli, results

ROOT = Path(__file__).resolve().parents[3]


def _start(argv: list[str], event: str, procs: list[subprocess.Popen[str]]) -> dict[str, str]:
    proc = subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    procs.append(proc)
    assert proc.stdout is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if f"event={event}" in line:
            return dict(re.findall(r"(\w+)=(\S+)", line))
    pytest.skip(f"{argv[0]} did not report {event} (still being built?)")


@pytest.fixture
def stack() -> Iterator[dict[str, str]]:
    procs: list[subprocess.Popen[str]] = []
    try:
        server = _start(["services.server", "--bind", "127.0.0.1", "--http-port", "0", "--udp-port", "0"],
                        "server.listening", procs)
        proxy = _start(["services.proxy", "--bind", "127.0.0.1", "--http-port", "0", "--udp-port", "0",
                        "--upstream", server["http"], "--upstream-udp", server["udp"]],
                       "proxy.listening", procs)
        yield {"server_http": server["http"], "server_udp": server["udp"], "proxy_http": proxy["http"],
               "proxy_udp": proxy["udp"]}
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()


def test_suite_through_real_proxy(stack: dict[str, str], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "qos_result.csv"
    code = cli.main(["suite", "--url", f"http://{stack['proxy_http']}/index.html", "--proxy", "none",
                     "--target", stack["proxy_udp"], "--csv", str(csv_path), "--suite-count", "100",
                     "--suite-interval", "2ms", "--requests", "50", "--same-clock", "true"])
    rows = results.read_rows(csv_path)
    assert code == 0, [r["error"] for r in rows]
    assert [r["x_cache"] for r in rows[:2]] == ["MISS", "HIT"]
    qos = rows[2]
    assert int(qos["packets_sent"]) + int(qos["missed_sends"]) == 100 and qos["owd_same_clock"] == "1"
    assert qos["lost_packets"] == "0" and qos["packets_received"] == qos["packets_sent"]
    assert float(qos["rtt_median_ms"]) < 100 and qos["owd_up_median_ms"] != ""  # sanity, loaded CI too


def test_server_echo_is_stamped(stack: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["qos", "--target", stack["server_udp"], "--count", "50", "--interval", "1ms",
                     "--csv", "", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"owd_up_median_ms": ' in out and '"lost_packets": 0,' in out


def test_module_entry_point_exit_codes() -> None:
    def run(*args: str) -> int:
        return subprocess.run([sys.executable, "-m", "services.client", *args], cwd=ROOT, capture_output=True,
                              timeout=60, stdin=subprocess.DEVNULL).returncode

    assert run("--help") == 0
    assert run("qos", "--count", "0") == 2
    assert run("http", "http://127.0.0.1:1/", "--proxy", "none", "--csv", "") == 1
