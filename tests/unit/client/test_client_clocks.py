"""Clock modes: one-way delays absolute with one clock, relative or omitted with separate clocks."""

from __future__ import annotations

import math

import pytest

from netem import topology
from services.client import clocks
from services.client.cli import main
from services.client.qos.analyze import raw_rows, result_columns
from services.client.qos.config import QosConfig
from services.client.qos.records import Arrival, Recorder
from services.client.qos.runner import QosRun
from services.client.runs import RunContext

MS = 1_000_000
OFFSET_NS = 5_000 * MS  # the echo host's clock is 5 s ahead
ECHO_PORT = topology.port("server", "udp")


def _run(host: str, offset_ns: int = 0) -> QosRun:
    """Three probes; up delays 3, 5, 4 ms and down 2, 2, 6 ms as the echo's (offset) clock sees them."""
    recorder = Recorder()
    for seq, (up, down) in enumerate([(3, 2), (5, 2), (4, 6)]):
        send = seq * 10 * MS
        recorder.sends.sched_mono_ns.append(send)
        recorder.sends.mono_ns.append(send)
        recorder.sends.wall_ns.append(10**18 + send)
        stamp = 10**18 + send + up * MS + offset_ns
        recorder.arrivals.append(Arrival(seq, send + (up + down) * MS, 10**18 + send + (up + down) * MS, 64,
                                         server_recv_ns=stamp, server_send_ns=stamp, server_count=seq + 1))
    return QosRun(QosConfig(host, ECHO_PORT, count=3, interval_s=0.01), 1, recorder, 0, wait_s=1.0)


def test_separate_clocks_report_delays_relative_to_their_minimum() -> None:
    shifted = result_columns(_run("10.0.0.9", OFFSET_NS), same=False)
    assert shifted["owd_clock"] == "relative" and shifted["owd_same_clock"] is False
    assert shifted["owd_up_min_ms"] == 0 and shifted["owd_up_max_ms"] == pytest.approx(2.0)
    assert shifted["owd_down_max_ms"] == pytest.approx(4.0)
    # the offset cancels: the same path with synchronised clocks gives the same relative figures
    unshifted = result_columns(_run("10.0.0.9"), same=False)
    assert shifted["owd_up_max_ms"] == pytest.approx(unshifted["owd_up_max_ms"])
    assert shifted["rtt_max_ms"] == pytest.approx(10.0)  # RTT is exact either way


def test_shared_clock_keeps_absolute_delays() -> None:
    row = result_columns(_run("10.0.0.9"), same=True)
    assert row["owd_clock"] == "shared"
    assert (row["owd_up_min_ms"], row["owd_up_max_ms"]) == (pytest.approx(3.0), pytest.approx(5.0))


def test_omitted_leaves_oneway_columns_empty() -> None:
    row = result_columns(_run("10.0.0.9", OFFSET_NS), same=None, separate=clocks.OMITTED)
    assert row["owd_clock"] == "omitted" and math.isnan(row["owd_up_median_ms"])
    assert not math.isnan(row["rtt_median_ms"])
    assert all(r["owd_up_ms"] is None for r in raw_rows(_run("10.0.0.9"), "r", "", None, clocks.OMITTED))


def test_auto_falls_back_when_a_loopback_delay_is_negative() -> None:
    assert result_columns(_run("127.0.0.1"))["owd_clock"] == "shared"
    assert result_columns(_run("127.0.0.1", -OFFSET_NS))["owd_clock"] == "relative"


def test_raw_rows_follow_the_row_mode() -> None:
    rows = raw_rows(_run("10.0.0.9", OFFSET_NS), "r", "", False)
    assert [r["owd_up_ms"] for r in rows] == [pytest.approx(0.0), pytest.approx(2.0), pytest.approx(1.0)]


@pytest.mark.parametrize(("override", "separate", "host", "expected"), [
    (True, "relative", "10.0.0.9", "shared"),
    (False, "omitted", "127.0.0.1", "omitted"),
    (None, "relative", "127.0.0.1", "shared"),
    (None, "relative", "proxy", "relative"),
    (None, "omitted", "localhost", "shared"),
])
def test_configured_mode(override: bool | None, separate: str, host: str, expected: str) -> None:
    assert clocks.configured_mode(override, separate, host) == expected


def test_rows_without_probes_state_the_run_mode() -> None:
    ctx = RunContext("abc", owd_clock="relative")
    assert ctx.row("http", f"http://{topology.named_endpoint('proxy', 'http')}/")["owd_clock"] == "relative"


def test_bad_separate_clocks_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qos", "--separate-clocks", "ignore", "--csv", ""]) == 2
    assert "relative, omitted" in capsys.readouterr().err
