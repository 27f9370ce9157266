"""Answers from storage, for both paths: the fast path's plain GET (`fast_hit`, from the connection) and
the full path's (`lookup` then `serve_entry`, from the cache cycle). Both ask the same pure decisions —
`cache.policy.decide` (through `hits.plain_hit` on the fast path) — and render with `respond`."""

from __future__ import annotations

from . import reply, respond
from .app import ProxyApp
from .cache.entry import Entry
from .cache.policy import Decision, decide, request_directives
from .cache.ranges import UNSATISFIABLE, ByteRange, plan_range
from .cache.validation import not_modified_for
from .hits import plain_hit
from .job import Job


def fast_hit(app: ProxyApp, target: str, close: bool) -> tuple[bytes, bytes] | None:
    """Head and body for a plain GET (no request fields that matter, see `fast.py`) when `decide` says the
    only stored variant is a fresh HIT and it has no Vary; else None (then the full path runs). The head
    is rendered at most once per Age second (`hits.py`)."""
    if app.config.mode != "reverse":
        return None
    entry = app.store.single(target)  # the only variant, without Vary (touched in the LRU)
    if entry is None:
        return None
    head = plain_hit(entry, app.now(), close)
    if head is None:
        return None
    body = entry.body
    app.metrics.fast_hit(entry.status, len(head) + len(body))
    return head, body


def lookup(app: ProxyApp, job: Job) -> Decision:
    """What the cache can do for this request now (RFC 9111 §4)."""
    assert job.route is not None
    req_cc = request_directives(job.request.headers, app.config.cookies)
    return decide(app.store.select(job.route.key, job.request.headers), req_cc, app.now())


def serve_entry(app: ProxyApp, job: Job, entry: Entry, cache_status: str) -> None:
    """Answer from `entry`: 304 to the client's own conditional, 206/416 for a range, else the whole."""
    now, connection, req = app.now(), job.connection, job.request
    part = plan_range(req.method, entry.status, req.headers, entry.headers, len(entry.body))
    if not_modified_for(entry, req.headers):
        data, status = respond.not_modified_response(entry, now, cache_status, connection=connection), 304
    elif isinstance(part, ByteRange):
        data = respond.partial_response(entry, now, cache_status, part, connection=connection)
        status = 206
    elif part == UNSATISFIABLE:
        data, status = respond.unsatisfiable_response(entry, cache_status, connection=connection), 416
    else:  # the stored body is written as it is, shared by every client (never joined to a head per hit)
        head = respond.served_head(entry, now, cache_status, connection)
        body = b"" if job.head_only else entry.body
        reply.finish(app, job, head, entry.status, cache_status, stored=True, body=body)
        return
    reply.finish(app, job, data, status, cache_status, stored=True)
