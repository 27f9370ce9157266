"""Records → rows: per-phase window statistics, RPM, grade, throughput (hand-computed values)."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from services.client.qos.records import Arrival, Recorder
from services.client.responsiveness import analyze
from services.client.responsiveness.config import RespConfig
from services.client.responsiveness.records import ByteSample, ForeignProbe, Records, SelfSample

START = 5_000_000_000
MS = 1_000_000


def config() -> RespConfig:
    # idle [0, 2), gap, download [3, 7) with its window [5, 7)
    return RespConfig("http://p/big", "http://p/sink", "http://p/small", None, ("127.0.0.1", 9),
                      phases=("idle", "download"), idle_s=2, load_s=4, gap_s=1, window_s=2,
                      flows_down=4, flows_up=2).validate()


def rtt_at(t_s: float) -> float | None:
    """10 ms idle, 110 ms while downloading; the probe at 6.0 s is lost."""
    if abs(t_s - 6.0) < 1e-9:
        return None
    return 110.0 if 3 <= t_s < 7 else 10.0


def records() -> Records:
    rec = Records(START, 1_700_000_000_000_000_000, udp=Recorder(kernel_timestamps=True))
    for index in range(70):  # a UDP probe every 100 ms
        t = index / 10
        sent = START + int(t * 1e9)
        rec.udp.sends.mono_ns.append(sent)
        rec.udp.sends.wall_ns.append(sent)
        rec.udp.sends.sched_mono_ns.append(sent)
        rtt = rtt_at(t)
        if rtt is not None:
            rec.udp.arrivals.append(Arrival(index, sent + int(rtt * MS), sent, 48))
    for index in range(28):  # a foreign probe every 250 ms
        t = index / 4
        loaded = 3 <= t < 7
        rec.foreign.append(ForeignProbe(START + int(t * 1e9), (50 if loaded else 5) * MS,
                                        (100 if loaded else 10) * MS, 200))
    rec.foreign.append(ForeignProbe(START + int(5.5e9), -1, -1, 0, "timeout"))
    for index in range(30, 70):
        rec.self_samples.append(SelfSample(START + index * 100 * MS, 1, "down", 200_000))
    for index in range(71):  # 2.5 MB/s (20 Mbit/s) while downloading
        t = index / 10
        moved = int(max(0.0, min(t, 7.0) - 3.0) * 2_500_000)
        rec.bytes.append(ByteSample(START + int(t * 1e9), moved, 0))
    rec.load_errors = Counter({"reset": 1})
    return rec


def test_rows_per_phase_and_summary() -> None:
    idle, download, summary = analyze.analyze(config(), records())
    assert [r["phase"] for r in (idle, download, summary)] == ["idle", "download", "all"]
    assert idle["rtt_median_ms"] == pytest.approx(10.0) and idle["packets_sent"] == 20
    assert idle["rpm_foreign"] == pytest.approx(60000 / 7.5) and idle["rpm_self"] is None
    assert idle["rpm"] == pytest.approx(8000.0) and idle["bufferbloat_grade"] is None
    assert download["packets_sent"] == 20 and download["lost_packets"] == 1
    assert download["loss_pct"] == pytest.approx(5.0)
    assert download["rtt_median_ms"] == pytest.approx(110.0)
    assert download["latency_increase_ms"] == pytest.approx(100.0)
    assert download["bufferbloat_grade"] == "C"
    assert download["rpm_foreign"] == pytest.approx(800.0) and download["rpm_self"] == pytest.approx(300.0)
    assert download["rpm"] == pytest.approx(550.0) and download["rpm_rating"] == "fair"
    assert download["foreign_probes"] == 8 and download["foreign_errors"] == 1
    assert download["throughput_down_bps"] == pytest.approx(20e6) and download["throughput_up_bps"] is None
    assert (download["flows_down"], download["flows_up"]) == (4, 0)
    assert download["rpm_confidence"] == "high"  # goodput and RPM flat for all 4 intervals
    assert download["ok"] and idle["ok"]
    assert summary["bufferbloat_grade"] == "C" and summary["rpm"] == pytest.approx(550.0)
    assert summary["idle_rtt_median_ms"] == pytest.approx(10.0)
    assert summary["loaded_rtt_median_ms"] == pytest.approx(110.0)
    assert summary["throughput_down_bps"] == pytest.approx(20e6)
    assert summary["errors_by_kind"] == "reset=1" and summary["load_errors"] == 1 and summary["ok"]


def test_a_direction_that_moved_nothing_fails_its_phase_and_the_summary() -> None:
    rec = records()
    rec.bytes = [ByteSample(s.at_ns, 0, 0) for s in rec.bytes]
    _, download, summary = analyze.analyze(config(), rec)
    assert not download["ok"] and download["error"] == "no download throughput"
    assert not summary["ok"] and "download: no download throughput" in summary["error"]


def test_throughput_needs_two_samples_in_the_window() -> None:
    samples = [ByteSample(0, 0, 0), ByteSample(10**9, 1000, 500)]
    assert analyze.throughput_bps(samples, 0, 10**9) == (8000.0, 4000.0)
    assert all(math.isnan(v) for v in analyze.throughput_bps(samples, 1, 10**9))


def test_udp_rtt_takes_the_first_reply_and_the_echo_time_out() -> None:
    rec = Recorder()
    rec.sends.mono_ns.extend([0, 100 * MS])
    rec.arrivals.extend([Arrival(0, 30 * MS, 0, 48, 1_000 * MS, 1_010 * MS), Arrival(0, 90 * MS, 0, 48)])
    timed = analyze.udp_rtts(rec, 0)
    assert timed[0].value == pytest.approx(20.0) and math.isnan(timed[1].value)
