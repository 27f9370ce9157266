"""The last step of every request: the answer is written to the client and reported once (the metrics
sink, then the access log). The bytes come from `respond`."""

from __future__ import annotations

import time

from services.common import log

from . import respond
from .app import ProxyApp
from .job import Job


def finish(app: ProxyApp, job: Job, data: bytes, status: int, cache_status: str, *,
           stored: bool = False, body: bytes = b"") -> None:
    """Write a whole answer; `stored`: it comes from a stored entry; `body`: a stored entry's body after
    `data` (its head), written shared (`Client.write_body`), never copied per client."""
    job.client.write(data)
    job.status, job.cache_status = status, cache_status
    job.sent_bytes += len(data) + len(body)
    report(app, job, stored=stored)
    if body:
        job.client.write_body(body)


def error(app: ProxyApp, job: Job, status: int, message: str, cache_status: str = "-") -> None:
    """An error answer the proxy makes itself (the connection stays as the request asked)."""
    app.metrics.refused(status)
    data = respond.error_response(status, message, connection=job.connection, head_only=job.head_only,
                                  cache_status=cache_status if cache_status != "-" else None)
    finish(app, job, data, status, cache_status)


def streamed(app: ProxyApp, job: Job, status: int, cache_status: str, sent: int) -> None:
    """An answer streamed from upstream has ended (whole, or cut)."""
    job.status, job.cache_status, job.sent_bytes = status, cache_status, sent
    report(app, job)


def report(app: ProxyApp, job: Job, *, stored: bool = False) -> None:
    app.metrics.answered(job.status, job.cache_status, job.sent_bytes, job.upstream_ms, stored=stored)
    if not app.config.access_log:
        return
    req = job.request
    log.event("proxy.access", client=job.client.peer, method=req.method, target=req.target,
              status=job.status, cache=job.cache_status, bytes=job.sent_bytes,
              upstream_ms=round(job.upstream_ms, 3),
              total_ms=round((time.monotonic() - job.start_s) * 1000, 3))
