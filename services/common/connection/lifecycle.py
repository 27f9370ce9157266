"""The lifecycle of a listener's connections: the registry of live ones, the timeout sweeper and the drain.

Connections register themselves here (they know nothing of the server that owns them); time and sleep
are injected, so tests drive the sweeper and the drain with a fake clock and no real sleeps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from .state import Timeouts

Sleep = Callable[[float], Awaitable[None]]
Monotonic = Callable[[], float]


class Live(Protocol):
    """What the lifecycle needs from a live connection."""

    def check_timeouts(self, now: float) -> None: ...

    def shutdown(self) -> None: ...

    def abort(self) -> None: ...


class Connections:
    """The live connections of one listener; `stopping` once a drain has begun (a connection accepted
    after that drains from its start)."""

    def __init__(self) -> None:
        self._live: set[Live] = set()
        self.stopping = False

    def add(self, conn: Live) -> None:
        self._live.add(conn)

    def discard(self, conn: Live) -> bool:
        """Remove `conn`; True when it was registered."""
        if conn in self._live:
            self._live.discard(conn)
            return True
        return False

    def snapshot(self) -> list[Live]:
        return list(self._live)

    def __len__(self) -> int:
        return len(self._live)


def sweep_interval_s(timeouts: Timeouts) -> float:
    """Often enough that a deadline fires within a quarter of itself (between 50 ms and 1 s)."""
    return max(0.05, min(1.0, timeouts.header_s / 4, timeouts.idle_s / 4, timeouts.send_s / 4))


async def sweep(connections: Connections, interval_s: float, monotonic: Monotonic, sleep: Sleep,
                also: Callable[[float], None] | None = None) -> None:
    """Forever: every `interval_s`, let each connection check its deadlines (and run `also(now)`)."""
    while True:
        await sleep(interval_s)
        now = monotonic()
        for conn in connections.snapshot():
            conn.check_timeouts(now)
        if also is not None:
            also(now)


async def drain(connections: Connections, timeout_s: float, monotonic: Monotonic, sleep: Sleep,
                poll_s: float = 0.02) -> int:
    """Ask every connection to finish, wait up to `timeout_s`, abort the rest; returns how many."""
    connections.stopping = True
    for conn in connections.snapshot():
        conn.shutdown()
    deadline = monotonic() + timeout_s
    while len(connections) and monotonic() < deadline:
        await sleep(poll_s)
    left = connections.snapshot()
    for conn in left:
        conn.abort()
    return len(left)
