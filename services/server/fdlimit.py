"""File descriptors: raise the soft limit at start, and log exhaustion once per episode.

A soft `RLIMIT_NOFILE` of 1,024 (the usual default) runs out under a thousand slow clients. At start the
soft limit goes up to the hard limit (what nginx's `worker_rlimit_nofile` does by hand). When descriptors
still run out, accept stops for a second (asyncio's own back-off), requests that need a file get 503, and
the log gets one `server.fd_exhausted` line when an episode starts and one `server.fd_recovered` line
with the failure count once nothing failed for `quiet_s` — not one line (or traceback) per failure.
"""

from __future__ import annotations

import resource

from services.common import log


def raise_fd_limit() -> tuple[int, int, int]:
    """Set the soft RLIMIT_NOFILE to the hard limit; returns (soft before, soft now, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            target = soft
    return soft, max(soft, target), hard


class Exhaustion:
    """Episodes of descriptor (or memory) exhaustion; `note` each failure, `tick` from the sweeper."""

    def __init__(self, quiet_s: float = 1.0) -> None:
        self.quiet_s = quiet_s
        self.since: float | None = None
        self.last = 0.0
        self.failures = 0
        self.episodes = 0

    @property
    def active(self) -> bool:
        return self.since is not None

    def note(self, where: str, now: float, error: str = "") -> None:
        self.last = now
        self.failures += 1
        if self.since is None:
            self.since = now
            self.episodes += 1
            log.event("server.fd_exhausted", where=where, error=error)

    def tick(self, now: float) -> None:
        if self.since is not None and now - self.last >= self.quiet_s:
            lasted_s = round(self.last - self.since, 3)
            log.event("server.fd_recovered", failures=self.failures, lasted_s=lasted_s)
            self.since = None
            self.failures = 0
