"""Both trace formats: parsed values, content detection, and every bad input named by file:line."""

from __future__ import annotations

import pytest

from netem.traces.errors import TraceError
from netem.traces.load import MAHIMAHI, SERIES, detect, schedule_from_text
from netem.traces.mahimahi import parse_mahimahi
from netem.traces.series import parse_series


def test_mahimahi_keeps_repeated_milliseconds_and_takes_the_last_stamp_as_period() -> None:
    trace = parse_mahimahi("0\n0\n3\n\n3\n10\n", "cell.down")
    assert trace.stamps_ms == (0, 0, 3, 3, 10)
    assert trace.period_ms == 10
    assert trace.mean_rate_bps() == pytest.approx(5 * 1500 * 8 / 0.010)


@pytest.mark.parametrize(("text", "where", "words"), [
    ("0\n5\n3\n", "cell.down:3", "must not decrease (line 2 has 5)"),
    ("0\n5\n7.5\n", "cell.down:3", "one whole number of milliseconds"),
    ("0\n-4\n", "cell.down:2", "one whole number"),
    ("", "cell.down", "the trace is empty"),
    ("\n\n  \n", "cell.down", "the trace is empty"),
    ("0\n0\n", "cell.down:2", "must be > 0 ms"),
])
def test_mahimahi_errors_name_file_and_line(text: str, where: str, words: str) -> None:
    with pytest.raises(TraceError) as info:
        parse_mahimahi(text, "cell.down")
    assert str(info.value).startswith(f"{where}: ")
    assert words in str(info.value)


def test_series_with_units_in_cells_or_in_the_header() -> None:
    with_units = parse_series("t,delay,loss,rate:linear\n0s,40ms,0%,10mbit\n250ms,80ms,2%,2mbit\n", "a.csv")
    bare = parse_series("# a comment\nt_ms,delay_ms,loss_pct,rate_mbit:linear\n0,40,0,10\n250,80,2,2\n",
                        "b.csv")
    for series in (with_units, bare):
        assert series.times_s == (0.0, 0.25)
        columns = {c.key: c for c in series.columns}
        assert columns["delay"].values == (40_000, 80_000)
        assert columns["loss"].values == (0.0, 2.0)
        assert columns["rate"].values == (10_000_000, 2_000_000)
        assert columns["rate"].linear and not columns["delay"].linear
    assert bare.lines == (3, 4)


@pytest.mark.parametrize(("text", "where", "words"), [
    ("t,delya\n0s,40ms\n", "r.csv:1", "delya: invalid value 'delya': unknown column; allowed: t"),
    ("t,delay:cubic\n0s,40ms\n", "r.csv:1", "an interpolation: step or linear"),
    ("t,delay,delay_ms\n0s,40ms,40\n", "r.csv:1", "each column once"),
    ("delay\n40ms\n", "r.csv:1", "a time column"),
    ("t\n0s\n", "r.csv:1", "t and at least one field column"),
    ("t,delay\n0s,40\n", "r.csv:2", "a duration with a unit"),
    ("t_ms,delay_ms\n0,4x\n", "r.csv:2", "a bare number (the header gives the unit: ms)"),
    ("t,delay\n0s,40ms\n5ms,50ms\n", "r.csv:3", "by at least 10 ms"),
    ("t,delay\n0s,40ms\n20ms,50ms\n10ms,60ms\n", "r.csv:4", "by at least 10 ms"),
    ("t,delay\n1s,40ms\n", "r.csv:2", "the first row is at t = 0"),
    ("t,delay\n0s,40ms,1\n", "r.csv:2", "2 cells, as in the header"),
    ("t,delay\n0s,\n", "r.csv:2", "a value in every cell"),
    ("t,loss\n0s,120%\n", "r.csv:2", "a percentage 0-100"),
    ("t,delay\n", "r.csv:1", "at least one row after the header"),
    ("# only a comment\n", "r.csv", "the file is empty"),
])
def test_series_errors_name_file_line_and_column(text: str, where: str, words: str) -> None:
    with pytest.raises(TraceError) as info:
        parse_series(text, "r.csv")
    assert str(info.value).startswith(f"{where}: "), str(info.value)
    assert words in str(info.value)


def test_structured_fields_are_not_columns() -> None:
    with pytest.raises(TraceError, match="unknown column"):
        parse_series("t,gemodel\n0s,1%\n", "g.csv")


def test_the_format_is_told_from_the_content() -> None:
    assert detect("0\n3\n") == MAHIMAHI
    assert detect("\n  12\n") == MAHIMAHI
    assert detect("t,delay\n0s,1ms\n") == SERIES
    assert detect("# comment\n0\n") == MAHIMAHI
    assert schedule_from_text("0\n10\n20\n", "m").period_s == 0.02
    assert schedule_from_text("t,delay\n0s,1ms\n", "s").period_s is None


def test_a_mahimahi_trace_cannot_be_told_not_to_loop() -> None:
    with pytest.raises(TraceError, match="always repeats"):
        schedule_from_text("0\n10\n", "m", loop=False)
