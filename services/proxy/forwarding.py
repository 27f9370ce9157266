"""Methods the cache does not answer (POST, PUT, DELETE, OPTIONS, TRACE, unknown): forwarded with their
bodies; unsafe ones invalidate the stored URI and same-origin Location/Content-Location (RFC 9111 §4.4)."""

from __future__ import annotations

from services.common.http1 import Response, build_request_head

from . import reply, respond
from .app import ProxyApp
from .cache.storage import is_unsafe
from .exchange import exchange, exchange_streamed, stream_response, upstream_headers
from .job import Job
from .numbers import parse_uint
from .target import related_key
from .upstream import UpstreamError


async def forward(app: ProxyApp, job: Job) -> None:
    """Methods the cache does not answer: forwarded with their bodies; unsafe ones invalidate."""
    assert job.route is not None
    req = job.request
    headers = upstream_headers(app, job)
    if req.method in ("OPTIONS", "TRACE") and "max-forwards" in headers:
        hops = parse_uint((headers.get("max-forwards") or "").strip(), 2**31)
        if hops == 0:
            _answer_max_forwards(app, job)
            return
        if hops is not None:
            headers.set("Max-Forwards", str(hops - 1))
    request_time = app.now()
    try:
        if job.stream is not None:
            conn, resp = await exchange_streamed(app, job, headers, job.stream)
        else:
            conn, resp = await exchange(app, job, req.method, headers, job.body)
    except UpstreamError as exc:
        reply.error(app, job, exc.status, exc.reason, "MISS")
        return
    if is_unsafe(req.method) and resp.status < 400:
        _invalidate(app, job, resp)
    await stream_response(app, job, conn, resp, request_time, "MISS", None, store=False)


def _invalidate(app: ProxyApp, job: Job, resp: Response) -> None:
    assert job.route is not None
    keys = {job.route.key}
    for name in ("location", "content-location"):
        value = resp.headers.get(name)
        related = related_key(job.route, value, job.request.headers.get("host")) if value else None
        if related is not None:
            keys.add(related)
    for key in keys:
        if app.store.remove(key):
            app.metrics.count("invalidations")


def _answer_max_forwards(app: ProxyApp, job: Job) -> None:
    req = job.request
    if req.method == "TRACE":
        echo = build_request_head(req.method, req.target, req.headers)
        data = respond.simple_response(200, echo, content_type="message/http", connection=job.connection)
    else:
        allow = [("Allow", "GET, HEAD, OPTIONS, TRACE")]
        data = respond.simple_response(200, b"", connection=job.connection, extra=allow)
    reply.finish(app, job, data, 200, "-")
