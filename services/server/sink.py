"""The upload sink, `POST` or `PUT /_server/sink`: reads a request body, counts it, keeps nothing (pure).

The responsiveness test's upload flows send bulk data here (through the proxy, which passes it on
uncached). Every decision is a pure function of the request head, the byte counts and `now`:
- `admit`: the method (405 otherwise) and the declared size (413 before a byte of the body is read,
  when Content-Length passes `max_bytes`); a malformed Content-Length never gets here, the shared
  HTTP/1.1 parser answers it with 400.
- `Upload.feed`: a chunked body is counted as it comes and refused with 413 once it passes `max_bytes`.
- `Upload.overdue`: 408 when, after `grace_s`, the average rate is below `min_rate_bps` — a trickle that
  would hold the connection for ever (Apache's MinRate). A body that stops altogether is the connection
  core's deadline (no body byte for `--header-timeout`: 408).
- `Upload.summary`: the 200 answer, `{"bytes": N, "seconds": S, "bits_per_second": R}`.
A refusal closes the connection (lingering): the rest of the body is read and dropped, never answered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .paths import url_path

PATH = "/_server/sink"
METHODS = ("POST", "PUT")
ALLOW = ", ".join(METHODS)


@dataclass(frozen=True)
class SinkLimits:
    """What the sink accepts (`--sink-max`, `--sink-min-rate`: their defaults are in `options.py`)."""

    max_bytes: int
    min_rate_bps: float
    grace_s: float = 5.0  # the rate is judged only after this long


@dataclass(frozen=True)
class Refusal:
    """The answer to an upload the sink will not take; the connection closes after it."""

    status: int
    message: str
    allow: str = ""  # the Allow field of a 405


def is_sink(target: str) -> bool:
    """Does `target` (origin or absolute form) name the sink? (Its path is a part of the target, so a
    target without PATH in it is settled by one substring search.)"""
    return PATH in target and url_path(target) == PATH


def admit(method: str, declared: int, limits: SinkLimits) -> Refusal | None:
    """Check the head before the body: None = read it. `declared` is the Content-Length or CHUNKED."""
    if method not in METHODS:
        return Refusal(405, f"the sink takes {ALLOW}", ALLOW)
    if declared > limits.max_bytes:
        return Refusal(413, f"upload of {declared} bytes exceeds the sink's limit of {limits.max_bytes}")
    return None


class Upload:
    """One body being read: counts bytes and watches the sender's pace."""

    def __init__(self, declared: int, limits: SinkLimits, now_s: float) -> None:
        self.declared = declared
        self.limits = limits
        self.started_s = now_s
        self.received = 0

    def feed(self, nbytes: int, now_s: float) -> Refusal | None:
        self.received += nbytes
        if self.received > self.limits.max_bytes:
            return Refusal(413, f"upload passed the sink's limit of {self.limits.max_bytes} bytes")
        return None

    def overdue(self, now_s: float) -> Refusal | None:
        """408 when the sender trickles; None while it keeps a reasonable pace (or the grace lasts)."""
        elapsed = now_s - self.started_s
        if elapsed >= self.limits.grace_s and self.received * 8 / elapsed < self.limits.min_rate_bps:
            return Refusal(408, f"upload slower than {self.limits.min_rate_bps:g} bit/s")
        return None

    def summary(self, now_s: float) -> bytes:
        seconds = max(now_s - self.started_s, 1e-9)
        return (json.dumps({"bytes": self.received, "seconds": round(seconds, 6),
                            "bits_per_second": round(self.received * 8 / seconds, 1)}) + "\n").encode()
