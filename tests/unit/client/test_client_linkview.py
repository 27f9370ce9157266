"""Configured vs measured per window, from a raw recording and a link timeline (the data of link.png)."""

from __future__ import annotations

import math

import pytest

from netem.core.fields import GeModel, Impairment
from netem.traces.timeline import COLUMNS, EndRef, row
from services.client import linkview

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000


def timeline() -> list[dict[str, str]]:
    rows = [row(EndRef("client", "edge", "up"), Impairment(delay_us=10_000), T0, T0, 0),
            row(EndRef("proxy", "edge", "down"), Impairment(delay_us=20_000, rate_bps=4_000_000), T0, T0, 0),
            row(EndRef("proxy", "core", "up"), Impairment(delay_us=5_000, loss_pct=10.0), T0, T0, 0),
            row(EndRef("proxy", "edge", "down"),
                Impairment(delay_us=40_000, rate_bps=1_000_000, gemodel=GeModel(1.0, 9.0)),
                T0 + 2 * S, T0 + 2 * S, 0),
            row(EndRef("proxy", "edge", "down", to="192.0.2.130"), Impairment(delay_us=99_000), T0, T0, 0)]
    return [{k: str(v) for k, v in r.items()} for r in rows]


def raw() -> list[dict[str, str]]:
    out = []
    for i in range(40):  # 10 probes/s for 4 s; every 5th lost; 1200-byte replies
        t = T0 + i * S // 10
        lost = i % 5 == 4
        out.append({"send_wall_ns": str(t), "received": "0" if lost else "1",
                    "owd_up_ms": "" if lost else "15.5",
                    "owd_down_ms": "" if lost else str(21 if i < 20 else 41),
                    "arrival_wall_ns": "" if lost else str(t + 36_000_000), "size_bytes": "1200"})
    return out


def test_the_writer_and_the_reader_agree_on_the_columns() -> None:
    assert COLUMNS == linkview.TIMELINE_COLUMNS


def test_configured_sums_delays_combines_losses_and_takes_the_narrowest_rate() -> None:
    ends = linkview.end_changes(timeline())
    before, after = linkview.configured(ends, T0 + S), linkview.configured(ends, T0 + 3 * S)
    assert (before["up"].delay_ms, before["up"].rate_bps) == (15.0, None)
    assert before["up"].loss_pct == pytest.approx(10.0)
    assert before["down"] == linkview.Setting(20.0, 0.0, 4_000_000)
    assert after["down"].delay_ms == 40.0 and after["down"].rate_bps == 1_000_000
    assert after["down"].loss_pct == pytest.approx(10.0)  # Gilbert-Elliott p 1 %, r 9 % → 10 %


def test_windows_put_measured_beside_configured() -> None:
    got = linkview.windows(raw(), timeline(), 1.0)
    assert [w.start_s for w in got] == [0.0, 1.0, 2.0, 3.0]
    assert [w.owd_ms["down"] for w in got] == [21, 21, 41, 41]
    assert [w.configured["down"].delay_ms for w in got] == [20, 20, 40, 40]
    assert [w.loss_pct for w in got] == [20.0] * 4
    assert got[0].received_bps == pytest.approx(8 * 8 * 1200)  # 8 replies arrived in the first second
    assert got[0].configured_loss_pct == pytest.approx(10.0)
    destination = linkview.windows(raw(), timeline(), 1.0, to="192.0.2.130")
    assert destination[0].configured["down"].delay_ms == 99.0


def test_a_file_that_is_not_a_timeline_is_refused_and_no_probes_no_windows() -> None:
    with pytest.raises(linkview.TimelineError):
        linkview.end_changes([{"kind": "qos"}])
    assert linkview.windows([], timeline(), 1.0) == []
    assert math.isnan(linkview.windows([{"send_wall_ns": str(T0), "received": "0"}], [], 1.0)[0].owd_ms["up"])
