"""The registry, the sweeper and the drain, on a fake clock with a fake sleep (no real sleeps)."""

from __future__ import annotations

import asyncio

import pytest

from services.common.connection.lifecycle import Connections, drain, sweep, sweep_interval_s
from services.common.connection.state import Timeouts


class Conn:
    def __init__(self, live: Connections, *, idle: bool) -> None:
        self.live, self.idle = live, idle
        self.checked: list[float] = []
        self.aborted = self.shut = False
        live.add(self)

    def check_timeouts(self, now: float) -> None:
        self.checked.append(now)

    def shutdown(self) -> None:
        self.shut = True
        if self.idle:
            self.live.discard(self)

    def abort(self) -> None:
        self.aborted = True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_sweep_interval_is_a_quarter_of_the_shortest_deadline_within_bounds() -> None:
    assert sweep_interval_s(Timeouts(10.0, 15.0, 60.0)) == 1.0
    assert sweep_interval_s(Timeouts(2.0, 15.0, 60.0)) == 0.5
    assert sweep_interval_s(Timeouts(10.0, 15.0, 0.4)) == 0.1
    assert sweep_interval_s(Timeouts(0.01, 0.01, 0.01)) == 0.05


def test_the_sweeper_checks_every_live_connection_with_the_injected_clock() -> None:
    live, clock = Connections(), Clock()
    conn = Conn(live, idle=False)
    ticks: list[float] = []

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)
        if clock.now > 1.0:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(sweep(live, 0.25, clock, sleep, ticks.append))
    assert conn.checked == ticks == [0.25, 0.5, 0.75, 1.0]


def test_drain_closes_idle_ones_waits_for_busy_ones_then_aborts_and_marks_the_registry() -> None:
    live, clock = Connections(), Clock()
    idle, busy = Conn(live, idle=True), Conn(live, idle=False)
    left = asyncio.run(drain(live, 0.5, clock, clock.sleep))
    assert live.stopping  # a connection accepted from now on drains from its start
    assert idle.shut and not idle.aborted and busy.shut and busy.aborted and left == 1
    assert 0.5 <= clock.now < 0.6
