"""Records → result columns, on a hand-built run (no sockets)."""

from __future__ import annotations

import math

import pytest

from netem import topology
from services.client.qos.analyze import raw_rows, result_columns
from services.client.qos.config import QosConfig
from services.client.qos.records import Arrival, Recorder
from services.client.qos.runner import QosRun

MS = 1_000_000
ECHO_PORT = topology.port("server", "udp")


def _run() -> QosRun:
    """6 probes 10 ms apart: seq 2 lost up, seq 4 lost down, seq 1 duplicated, 5 before 3 (reordered)."""
    recorder = Recorder()
    for seq in range(6):
        recorder.sends.sched_mono_ns.append(seq * 10 * MS)
        recorder.sends.mono_ns.append(seq * 10 * MS + 1000)  # 1 µs timer error
        recorder.sends.wall_ns.append(10**18 + seq * 10 * MS + 1000)

    def reply(seq: int, rtt_ms: int, count: int, extra_ns: int = 0) -> Arrival:
        sent_mono, sent_wall = recorder.sends.mono_ns[seq], recorder.sends.wall_ns[seq]
        up = rtt_ms * MS // 2
        return Arrival(seq, sent_mono + rtt_ms * MS + 100_000 + extra_ns,
                       sent_wall + rtt_ms * MS + 100_000 + extra_ns, 64,
                       server_recv_ns=sent_wall + up, server_send_ns=sent_wall + up + 100_000,
                       server_count=count)

    # echo counted: 0→1, 1→2 and 3 (dup), 3→4, 4→5 (reply lost), 5→6
    recorder.arrivals += [reply(0, 2, 1), reply(1, 4, 2), reply(1, 4, 3, 50_000), reply(5, 2, 6),
                          reply(3, 20, 4)]
    recorder.rejected["magic"] += 2
    config = QosConfig("127.0.0.1", ECHO_PORT, count=6, interval_s=0.01, size=64)
    return QosRun(config, 1, recorder, 0, wait_s=1.0)


def test_loss_split_duplicates_reordering() -> None:
    row = result_columns(_run())
    assert row["packets_sent"] == 6 and row["packets_received"] == 4
    assert (row["lost_packets"], row["lost_up_packets"], row["lost_down_packets"]) == (2, 1, 1)
    assert row["loss_pct"] == pytest.approx(100 * 2 / 6)
    assert row["duplicate_packets"] == 1 and row["reordered_packets"] == 1
    assert row["rejected_packets"] == 2 and row["late_packets"] == 0
    assert row["ok"] is True


def test_rtt_excludes_processing_and_oneway_split() -> None:
    row = result_columns(_run())
    assert row["rtt_min_ms"] == pytest.approx(2.0) and row["rtt_max_ms"] == pytest.approx(20.0)
    assert row["rtt_median_ms"] == pytest.approx(3.0)
    assert row["owd_up_min_ms"] == pytest.approx(1.0)
    assert row["owd_down_max_ms"] == pytest.approx(10.0)
    assert row["owd_same_clock"] is True  # loopback, no negative one-way delay
    assert row["timer_error_mean_us"] == pytest.approx(1.0)
    assert row["ipdv_mean_abs_ms"] == pytest.approx(2.0)  # only pair (0,1): 4 − 2


def test_late_beyond_wait() -> None:
    run = _run()
    run.wait_s = 0.010
    assert result_columns(run)["late_packets"] == 1  # the 20 ms reply


def test_empty_run() -> None:
    run = QosRun(QosConfig("10.0.0.1", ECHO_PORT, count=1), 1, Recorder(), 0, wait_s=1.0)
    row = result_columns(run)
    assert row["ok"] is False and row["packets_sent"] == 0 and row["lost_packets"] == 0
    assert math.isnan(row["rtt_median_ms"]) and row["owd_same_clock"] is None
    assert raw_rows(run, "r", "") == []


def test_raw_rows_one_per_probe() -> None:
    rows = raw_rows(_run(), "abc", "lab")
    assert [r["seq"] for r in rows] == list(range(6))
    assert [r["received"] for r in rows] == [True, True, False, True, False, True]
    assert rows[1]["arrivals"] == 2 and rows[3]["reordered"] is True and rows[2]["rtt_ms"] is None
