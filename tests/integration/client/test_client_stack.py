"""The client against the real server and proxy as processes on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from services.client import cli, results
from tests.integration.processes import REPO as ROOT
from tests.integration.processes import running


def _addr(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


@pytest.fixture
def stack() -> Iterator[dict[str, str]]:
    with ExitStack() as stop:
        server = stop.enter_context(running("services.server", "--bind", "127.0.0.1", "--http-port", "0",
                                            "--udp-port", "0"))
        proxy = stop.enter_context(running("services.proxy", "--bind", "127.0.0.1", "--http-port", "0",
                                           "--udp-port", "0", "--upstream", _addr(server.http),
                                           "--upstream-udp", _addr(server.udp)))
        yield {"server_http": _addr(server.http), "server_udp": _addr(server.udp),
               "proxy_http": _addr(proxy.http), "proxy_udp": _addr(proxy.udp)}


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
    assert {r["owd_clock"] for r in rows} == {"shared"}  # every row states the clock assumption


def test_separate_clocks_give_relative_oneway_delays(stack: dict[str, str], tmp_path: Path) -> None:
    csv_path = tmp_path / "qos_result.csv"
    assert cli.main(["qos", "--target", stack["server_udp"], "--count", "50", "--interval", "1ms",
                     "--csv", str(csv_path), "--same-clock", "false"]) == 0
    (row,) = results.read_rows(csv_path)
    assert row["owd_clock"] == "relative" and row["owd_same_clock"] == "0"
    assert float(row["owd_up_min_ms"]) == 0 and float(row["owd_down_min_ms"]) == 0


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
