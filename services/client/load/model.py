"""What a load run is asked to do (`LoadPlan`) and what it measured (`LoadStats`): pure data."""

from __future__ import annotations

import collections
import socket
from dataclasses import dataclass, field

from services.client.histogram import Histogram


@dataclass(frozen=True)
class LoadPlan:
    host: str
    port: int
    request: bytes  # one complete request, written as is
    connections: int = 1
    requests: int | None = None  # total to issue (closed or open loop) …
    duration_s: float | None = None  # … or issue for this long
    rate_rps: float | None = None  # open loop when set
    pipeline: int = 1
    timeout_s: float = 10.0

    def validate(self) -> LoadPlan:
        if self.connections < 1 or self.pipeline < 1:
            raise ValueError("--clients and --pipeline must be at least 1")
        if (self.requests is None) == (self.duration_s is None):
            raise ValueError("give a request count or a duration")
        if self.requests is not None and self.requests < 1:
            raise ValueError("--requests must be at least 1")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError("--duration must be positive")
        if self.rate_rps is not None and self.rate_rps <= 0:
            raise ValueError("--rate must be positive")
        return self


@dataclass
class LoadStats:
    """What a run measured; histograms in ns. `uncorrected` is only filled in open loop."""

    latency: Histogram = field(default_factory=Histogram)
    uncorrected: Histogram = field(default_factory=Histogram)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    x_cache: collections.Counter[str] = field(default_factory=collections.Counter)
    issued: int = 0
    body_bytes: int = 0
    elapsed_s: float = 0.0

    @property
    def ok(self) -> int:
        return self.latency.total

    def merge(self, other: LoadStats) -> None:
        self.latency.merge(other.latency)
        self.uncorrected.merge(other.uncorrected)
        self.errors.update(other.errors)
        self.x_cache.update(other.x_cache)
        self.issued += other.issued
        self.body_bytes += other.body_bytes
        self.elapsed_s = max(self.elapsed_s, other.elapsed_s)


def error_kind(exc: BaseException | None) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "reset"
    return "closed" if exc is None else "connect"
