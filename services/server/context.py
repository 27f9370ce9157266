"""What every connection shares: settings, the site, counters, the clock and the cached Date line.

The registry of live connections is not here: it belongs to the connection lifecycle
(`services.common.connection.lifecycle`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from services.common.clock import Clock, SystemClock
from services.common.connection.state import Timeouts
from services.common.http1 import Limits, http_date

from .access import AccessLog
from .fast import FastRoutes, fast_head_limit
from .fdlimit import Exhaustion
from .files import Site
from .plan import Special
from .sink import SinkLimits
from .stats import Stats


@dataclass
class Context:
    site: Site
    stats: Stats
    clock: Clock
    limits: Limits
    timeouts: Timeouts
    specials: Mapping[str, Special]
    max_body: int  # bodies of requests other than the sink's (the parser allows the larger)
    sink: SinkLimits
    access_log: bool
    server_name: str = "qoslab"
    fast: FastRoutes = field(init=False)
    access: AccessLog = field(default_factory=AccessLog)
    exhaustion: Exhaustion = field(default_factory=Exhaustion)
    now: Callable[[], float] = field(init=False)
    """Monotonic seconds from the injected clock (timeouts, the file cache, durations)."""

    def __post_init__(self) -> None:
        self.now = monotonic_s(self.clock)
        self.fast = FastRoutes(self.limits,
                               fast_head_limit(self.limits.max_request_line, self.limits.max_header_bytes))
    _date_second: int = -1
    _date_line: bytes = b""

    def date_server(self) -> bytes:
        """`Date: …\\r\\nServer: …\\r\\n`, rebuilt once per second."""
        second = self.clock.wall_ns() // 1_000_000_000
        if second != self._date_second:
            self._date_second = second
            self._date_line = f"Date: {http_date(second)}\r\nServer: {self.server_name}\r\n".encode()
        return self._date_line


def monotonic_s(clock: Clock) -> Callable[[], float]:
    """Seconds of `clock`'s monotonic time; the system clock's own C function on the hot path."""
    if isinstance(clock, SystemClock):
        return time.monotonic
    return lambda: clock.mono_ns() * 1e-9
