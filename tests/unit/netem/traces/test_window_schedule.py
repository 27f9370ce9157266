"""Window conversion of delivery traces and the schedule of a trace over time (loops, steps, ramps)."""

from __future__ import annotations

import pytest

from netem.traces.mahimahi import DeliveryTrace
from netem.traces.schedule import Change, Schedule, from_delivery, from_series
from netem.traces.series import parse_series
from netem.traces.window import rates_bps, summary, window_counts, window_shares


def plateaus(rates_pkts_per_ms: list[float], each_ms: int) -> DeliveryTrace:
    """Evenly spaced opportunities, so many per millisecond for `each_ms` per plateau, each at the end of
    its interval: the last one is the period (and the next loop's first)."""
    stamps: list[int] = []
    start = 0
    for rate in rates_pkts_per_ms:
        stamps += [start + round((i + 1) / rate) for i in range(round(rate * each_ms))]
        start += each_ms
    return DeliveryTrace("p", tuple(stamps))


def test_each_window_delivers_the_traces_bytes() -> None:
    trace = DeliveryTrace("t", (0, 0, 5, 19, 20, 21, 39, 40))
    assert window_counts(trace, 20) == [4 + 1, 3]  # the stamp at 40 (= the period) opens the next loop
    assert rates_bps(trace, 20) == [5 * 12000 * 50, 3 * 12000 * 50]


def test_a_gap_spreads_its_next_opportunity_and_the_last_window_may_be_shorter() -> None:
    trace = DeliveryTrace("t", (1, 2, 3, 55))  # the stamp at 55 (the period) closes a 52 ms gap
    assert window_counts(trace, 20) == [4, 0, 0]
    assert window_shares(trace, 20) == pytest.approx([3 + 17 / 52, 20 / 52, 15 / 52])
    gap_rate = round(12_000 / 0.052)  # one opportunity over the 52 ms gap, in every window of it
    assert rates_bps(trace, 20)[1:] == [gap_rate, gap_rate]
    assert summary(trace, 20).empty == 2


def test_a_sparse_trace_keeps_its_rate_and_every_trace_its_capacity() -> None:
    sparse = DeliveryTrace("s", tuple(range(40, 1001, 40)))  # one opportunity every 40 ms: 300 kbit/s
    assert set(rates_bps(sparse, 20)) == {300_000}
    bursty = DeliveryTrace("b", (0, 0, 0, 7, 7, 33, 34, 90, 91, 91, 150))
    assert sum(window_shares(bursty, 20)) == pytest.approx(len(bursty.stamps_ms))


def test_window_bounds() -> None:
    with pytest.raises(ValueError):
        rates_bps(DeliveryTrace("t", (0, 100)), 5)


def test_plateau_trace_becomes_three_rate_changes_repeating() -> None:
    trace = plateaus([1.0, 0.25, 0.5], 1000)  # 12, 3 and 6 Mbit/s for one second each
    schedule = from_delivery(trace, 20)
    assert [(c.at_s, c.values["rate_bps"]) for c in schedule.changes] == [
        (0.0, 12_000_000), (1.0, 3_000_000), (2.0, 6_000_000)]
    assert schedule.period_s == 3.0
    assert schedule.values_at(4.5) == {"rate_bps": 3_000_000}
    due = schedule.due_after(2.5)
    assert [next(due)[0] for _ in range(4)] == [3.0, 4.0, 5.0, 6.0]


def test_a_series_holds_its_last_row_unless_it_loops() -> None:
    series = parse_series("t,delay,loss\n0s,10ms,0%\n1s,20ms,1%\n3s,30ms,1%\n", "s.csv")
    held = from_series(series)
    assert held.period_s is None
    assert held.values_at(100.0) == {"delay_us": 30_000, "loss_pct": 1.0}
    assert [d for d, _ in held.due_after(0.5)] == [1.0, 3.0]
    looped = from_series(series, loop=True)
    assert looped.period_s == 5.0  # the last row held as long as the step before it
    assert looped.values_at(5.5) == {"delay_us": 10_000, "loss_pct": 0.0}


def test_linear_columns_move_every_10_ms_and_step_columns_jump() -> None:
    series = parse_series("t,delay:linear,loss\n0s,10ms,0%\n50ms,20ms,5%\n", "s.csv")
    schedule = from_series(series)
    assert [c.at_s for c in schedule.changes] == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04, 0.05])
    assert [c.values["delay_us"] for c in schedule.changes] == list(range(10_000, 20_001, 2_000))
    assert [c.values["loss_pct"] for c in schedule.changes] == [0, 0, 0, 0, 0, 5.0]


def test_repeated_values_are_not_changes() -> None:
    series = parse_series("t,delay\n0s,10ms\n1s,10ms\n2s,20ms\n", "s.csv")
    assert [c.at_s for c in from_series(series).changes] == [0.0, 2.0]


def test_a_schedule_must_start_at_zero_and_end_before_its_period() -> None:
    with pytest.raises(ValueError):
        Schedule("x", (Change(1.0, {}),), None)
    with pytest.raises(ValueError):
        Schedule("x", (Change(0.0, {}), Change(2.0, {})), 2.0)
