"""Every QoS metric against sequences computed by hand."""

from __future__ import annotations

import math

import pytest

from services.client.qos import metrics


def test_percentile_interpolates_linearly() -> None:
    assert metrics.percentile([1, 2, 3, 4], 50) == 2.5
    assert metrics.percentile([10], 99) == 10
    assert metrics.percentile([0, 100], 99) == pytest.approx(99)
    assert math.isnan(metrics.percentile([], 50))


def test_summarize_hand_computed() -> None:
    stats = metrics.summarize([4, 1, 3, 2])
    assert (stats.count, stats.min, stats.max, stats.mean, stats.median) == (4, 1, 4, 2.5, 2.5)
    assert stats.p90 == pytest.approx(3.7)
    assert stats.stddev == pytest.approx(math.sqrt(1.25))


def test_summarize_empty_is_nan() -> None:
    stats = metrics.summarize([])
    assert stats.count == 0 and math.isnan(stats.mean) and math.isnan(stats.p99)


def test_rtt_excludes_server_processing() -> None:
    assert metrics.rtt_ns(1000, 5000, server_recv_ns=10_000, server_send_ns=10_700) == 3300
    assert metrics.rtt_ns(1000, 5000) == 4000  # plain echo: nothing to subtract
    assert metrics.rtt_ns(1000, 5000, 10_700, 10_000) == 4000  # nonsense stamps are ignored


def test_oneway() -> None:
    assert metrics.oneway_ns(100, 250) == 150


def test_jitter_matches_rfc3550_recurrence() -> None:
    send = [0, 20, 40, 60, 80]
    recv = [5, 27, 45, 68, 85]   # transit 5, 7, 5, 8, 5 → |D| = 2, 2, 3, 3
    expected = 0.0
    for d in (2, 2, 3, 3):
        expected += (d - expected) / 16
    assert metrics.jitter_rfc3550(send, recv) == pytest.approx(expected)
    assert metrics.jitter_rfc3550([0], [5]) == 0.0
    assert metrics.jitter_rfc3550([], []) == 0.0


def test_jitter_constant_delay_is_zero() -> None:
    assert metrics.jitter_rfc3550([0, 10, 20, 30], [7, 17, 27, 37]) == 0.0


def test_ipdv_only_consecutive_pairs() -> None:
    delays = {0: 10, 1: 12, 2: 9, 4: 20, 5: 20}   # seq 3 lost: pairs (0,1) (1,2) (4,5)
    assert metrics.ipdv_ns(delays) == [2, -3, 0]
    assert metrics.ipdv_ns({}) == []


def test_pdv_is_delay_minus_minimum() -> None:
    assert metrics.pdv_ns([12, 10, 15]) == [2, 0, 5]
    assert metrics.pdv_ns([]) == []


def test_loss_counts_unique_sequences() -> None:
    assert metrics.lost(10, [0, 1, 2, 2, 4, 5, 6, 7, 8, 9]) == 1   # 3 lost; a duplicate of 2 is no cure
    assert metrics.lost(3, []) == 3
    assert metrics.lost(0, []) == 0
    assert metrics.lost(3, [0, 1, 2, 7]) == 0   # out-of-range seqs ignored


def test_loss_by_direction_from_server_counts() -> None:
    # 10 sent, up loss of 2 → echo counted 8; replies with counts 3 and 6 lost on the way down
    counts = [1, 2, 4, 5, 7, 8]
    assert metrics.loss_by_direction(4, counts) == (2, 2)
    assert metrics.loss_by_direction(0, []) is None
    assert metrics.loss_by_direction(1, [1, 2, 2]) == (1, 0)   # tail loss: attributed up


def test_loss_by_direction_clamps_to_total() -> None:
    # an up-link duplicate whose second reply was lost: a missing count but no lost sequence
    assert metrics.loss_by_direction(0, [1, 3]) == (0, 0)


def test_unwrap_counter_across_wraparound() -> None:
    top = 2**32
    assert metrics.unwrap([top - 2, top - 1, 0, 2, 1]) == [top - 2, top - 1, top, top + 2, top + 1]
    assert metrics.unwrap([]) == []
    assert metrics.unwrap([top - 2, top - 1, 1, 2]) == [top - 2, top - 1, top + 1, top + 2]  # top lost


def test_late_is_beyond_threshold() -> None:
    assert metrics.late([5, 10, 11, 30], threshold_ns=10) == 2
    assert metrics.late([], 10) == 0


def test_reordered_rfc4737() -> None:
    assert metrics.reordered([0, 1, 2, 3]) == 0
    assert metrics.reordered([0, 2, 1, 3]) == 1     # 1 after 2
    assert metrics.reordered([3, 0, 1, 2]) == 3     # all below 3
    assert metrics.reordered([0, 2, 2, 1]) == 1     # duplicate of 2 is not a reordering
    assert metrics.reordered([]) == 0


def test_duplicates() -> None:
    assert metrics.duplicates([0, 1, 1, 2, 1]) == 2
    assert metrics.duplicates([]) == 0


def test_rate_over_window() -> None:
    pps, bps = metrics.rate(11, 100, 0, 1_000_000_000)  # 10 gaps in 1 s
    assert pps == pytest.approx(10.0) and bps == pytest.approx(8000.0)
    assert all(math.isnan(x) for x in metrics.rate(1, 100, 0, 5))


def test_timer_errors() -> None:
    assert metrics.timer_errors_ns([100, 200], [103, 201]) == [3, 1]


def test_percent() -> None:
    assert metrics.percent(1, 4) == 25.0
    assert math.isnan(metrics.percent(1, 0))
