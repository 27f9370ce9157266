"""File descriptors: raise the soft RLIMIT_NOFILE at start, and report exhaustion once per episode.

On EMFILE/ENFILE asyncio's accept loop already backs off (it stops accepting for a second and retries);
it reports each failure through the loop's exception handler with a traceback. `install` replaces that
with one log line per episode. Our own exhaustion is answered 503 (never 502: the upstream is fine).
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any

from services.common import log

from .udp_session import REPLY_SOCKETS
from .upstream import FD_EXHAUSTED

FD_RESERVE = 256  # descriptors the UDP relay's sessions leave for HTTP, the upstream pool and stats


def raise_nofile_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE raised to the hard limit; returns (soft before, soft now) and logs both."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.event("proxy.nofile", soft=soft, hard=hard, raised="no", error=str(exc))
            return soft, soft
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    log.event("proxy.nofile", soft_before=soft, soft=now, hard=hard)
    return soft, now


def session_budget(max_sessions: int, reply_sockets: int = REPLY_SOCKETS) -> int:
    """UDP sessions the relay may hold so FD_RESERVE descriptors stay free for everything else (each
    session holds one descriptor, the first `reply_sockets` of them two)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return max_sessions
    return max(1, min(max_sessions, soft - FD_RESERVE - reply_sockets))


def is_exhaustion(exc: BaseException | None) -> bool:
    return isinstance(exc, OSError) and exc.errno in FD_EXHAUSTED


class Episodes:
    """One log line when descriptors run out; quiet until `recovered` (a connection was accepted)."""

    def __init__(self) -> None:
        self.active = False
        self.count = 0  # episodes so far
        self.failures = 0  # failed accepts / connects during episodes

    def exhausted(self, where: str, exc: BaseException | None) -> None:
        self.failures += 1
        if not self.active:
            self.active = True
            self.count += 1
            log.event("proxy.fd_exhausted", where=where, error=str(exc), episode=self.count)

    def recovered(self) -> None:
        if self.active:
            self.active = False
            log.event("proxy.fd_recovered", failures=self.failures)


def install(loop: asyncio.AbstractEventLoop, episodes: Episodes) -> None:
    """Loop errors become one log line each (exhaustion: one per episode), never a traceback."""

    def handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if is_exhaustion(exc):
            episodes.exhausted("accept", exc)
            return
        log.event("proxy.loop_error", message=context.get("message", "-"), error=repr(exc))

    loop.set_exception_handler(handler)
