"""The cache path (GET/HEAD): what `decide` says is carried out here — served from storage (`serve`), or a
miss, a revalidation, collapsing and stale serving through the upstream exchange (`exchange.py`).

Concurrent misses for one key wait for the first (collapsing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from services.common.http1 import EndOfMessage, Headers, Response

from . import reply, respond
from .app import ProxyApp
from .cache.directives import Directives
from .cache.entry import Entry, refresh
from .cache.head import head_effects
from .cache.policy import Action, request_directives
from .cache.response import Next, after_upstream
from .cache.validation import conditional_headers, is_conditional, refreshed_fields
from .exchange import exchange, stream_response, upstream_headers
from .job import Job
from .serve import lookup, serve_entry
from .upstream import UpstreamConnection, UpstreamError

SERVED = (Action.HIT, Action.STALE, Action.STALE_REVALIDATE)


class _NullClient:
    """The client of a background revalidation: nobody reads the answer."""

    peer = "background"
    closed = False

    def write(self, data: bytes) -> None:
        pass

    def write_body(self, body: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def start_tunnel(self, origin: tuple[str, int]) -> Coroutine[Any, Any, None]:
        raise NotImplementedError


def serve_cached(app: ProxyApp, job: Job) -> Coroutine[Any, Any, None] | None:
    """Carry out `decide`'s answer; a coroutine when the upstream is needed."""
    decision = lookup(app, job)
    action, entry = decision.action, decision.entry
    if entry is not None and action is Action.HIT:
        serve_entry(app, job, entry, "HIT")
    elif entry is not None and action in (Action.STALE, Action.STALE_REVALIDATE):
        serve_entry(app, job, entry, "STALE")
        if action is Action.STALE_REVALIDATE and job.route is not None and job.route.key not in app.inflight:
            background = Job(job.request, b"", False, _NullClient(), time.monotonic(), job.route)
            app.spawn(_background_revalidate(app, background, entry))
    elif action is Action.ONLY_IF_CACHED:
        app.metrics.count("misses")
        reply.error(app, job, 504, "not in cache (only-if-cached)", "MISS")
    elif entry is not None and action is Action.REVALIDATE:
        return revalidate(app, job, entry)
    else:
        return miss(app, job, entry)
    return None


async def _background_revalidate(app: ProxyApp, job: Job, entry: Entry) -> None:
    assert job.route is not None
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    app.inflight[job.route.key] = future
    try:
        await revalidate(app, job, entry)
    finally:
        app.inflight.pop(job.route.key, None)
        future.set_result(None)


async def miss(app: ProxyApp, job: Job, stale: Entry | None = None) -> None:
    """Fetch for the client (collapsed with concurrent plain GETs); `stale`: a stored response, unusable
    now, that may still answer if the origin fails (`--stale-on-error`)."""
    assert job.route is not None
    key = job.route.key
    req_cc = request_directives(job.request.headers, app.config.cookies)
    collapsible = (job.request.method == "GET" and not is_conditional(job.request.headers)
                   and "no-store" not in req_cc and "no-cache" not in req_cc)
    waiting = app.inflight.get(key) if collapsible else None
    if waiting is not None:
        app.metrics.count("collapsed")
        # bounded like the leader's own wait, from this request's arrival (it used to wait twice: 60 s)
        left_s = app.config.upstream_timeout_s - (time.monotonic() - job.start_s)
        try:
            await asyncio.wait_for(asyncio.shield(waiting), max(left_s, 0.0))
        except TimeoutError:
            app.metrics.count("upstream_timeouts")
            reply.error(app, job, 504, "upstream timed out", "MISS")
            return
        except UpstreamError as exc:  # the leader's fetch failed: the same answer now, not a second wait
            reply.error(app, job, exc.status, exc.reason, "MISS")
            return
        decision = lookup(app, job)
        if decision.entry is not None and decision.action in SERVED:
            serve_entry(app, job, decision.entry, "HIT")
            return
    leader: asyncio.Future[None] | None = None
    if collapsible and key not in app.inflight:
        leader = asyncio.get_running_loop().create_future()
        app.inflight[key] = leader
    app.metrics.count("misses")
    try:
        await fetch_and_stream(app, job, None, "MISS", leader, stale=stale)
    finally:
        if leader is not None:
            if app.inflight.get(key) is leader:
                del app.inflight[key]
            if not leader.done() and job.status in (502, 503, 504):
                leader.set_exception(UpstreamError(job.status, "upstream failed (request collapsed)"))
                leader.exception()  # retrieved: nothing logged when no request was waiting
            elif not leader.done():
                leader.set_result(None)


async def revalidate(app: ProxyApp, job: Job, entry: Entry) -> None:
    await fetch_and_stream(app, job, entry, "MISS", None)


async def fetch_and_stream(app: ProxyApp, job: Job, entry: Entry | None, cache_status: str,
                           leader: asyncio.Future[None] | None, *, stale: Entry | None = None) -> None:
    """Ask upstream and carry out `after_upstream`'s answer. `entry`: the stored response being
    revalidated (its validators are sent); `stale`: one that may answer instead when the origin fails."""
    headers = upstream_headers(app, job, drop_conditionals=entry is not None)
    if entry is not None:
        for name, value in conditional_headers(entry):
            headers.add(name, value)
    method = "GET" if entry is not None and job.request.method == "GET" else job.request.method
    fallback = entry if entry is not None else stale
    req_cc = request_directives(job.request.headers, app.config.cookies)
    request_time = app.now()
    started = time.monotonic()
    try:
        conn, resp = await exchange(app, job, method, headers, b"")
    except UpstreamError as exc:
        if fallback is not None and _next(app, job, fallback, method, req_cc, None) is Next.SERVE_STALE:
            serve_entry(app, job, fallback, "STALE")
            return
        reply.error(app, job, exc.status, exc.reason, cache_status)
        return
    job.upstream_ms = (time.monotonic() - started) * 1000
    next_step = _next(app, job, fallback, method, req_cc, resp, revalidating=entry is not None)
    if next_step is Next.REFRESH and entry is not None:
        await _finish_304(app, job, conn, resp, entry, request_time)
        return
    if next_step is Next.SERVE_STALE and fallback is not None:
        conn.close()
        serve_entry(app, job, fallback, "STALE")
        return
    await stream_response(app, job, conn, resp, request_time, cache_status, leader,
                          store=next_step is Next.STORE)
    if method == "HEAD" and resp.status == 200:
        _apply_head_response(app, job, resp.headers, request_time)


def _next(app: ProxyApp, job: Job, entry: Entry | None, method: str, req_cc: Directives,
          resp: Response | None, *, revalidating: bool = False) -> Next:
    return after_upstream(entry, method, job.request.headers, req_cc,
                          None if resp is None else resp.status, None if resp is None else resp.headers,
                          app.now(), targets=app.config.cache_targets,
                          stale_on_error_s=app.config.stale_on_error_s, revalidating=revalidating,
                          cookies=app.config.cookies)


async def _finish_304(app: ProxyApp, job: Job, conn: UpstreamConnection, resp: Response,
                      entry: Entry, request_time: float) -> None:
    assert job.route is not None
    try:
        while not isinstance(await conn.next_event(app.config.upstream_timeout_s), EndOfMessage):
            pass
        app.pool.release(job.route.origin, conn, resp)
    except UpstreamError:
        conn.close()
    targets, response_time = app.config.cache_targets, app.now()
    served_fields, kept = refreshed_fields(entry.headers, resp.headers, targets, app.config.cookies)
    served = refresh(entry, served_fields, request_time, response_time, resp.headers, targets)
    served.head = respond.entry_head(served)
    if kept is None:  # the update made it unstorable (it sets a cookie, --set-cookie pass)
        app.store.discard(entry)
    elif len(kept) == len(served_fields):
        app.store.replace(entry, served)
    else:  # stored without the withheld fields this client still gets
        fresh = refresh(entry, kept, request_time, response_time, resp.headers, targets)
        fresh.head = respond.entry_head(fresh)
        app.store.replace(entry, fresh)
    serve_entry(app, job, served, "REVALIDATED")


def _apply_head_response(app: ProxyApp, job: Job, head: Headers, request_time: float) -> None:
    """RFC 9111 §4.3.5: a 200 to HEAD refreshes matching stored GETs and invalidates the others."""
    assert job.route is not None
    config = app.config
    updates, drops = head_effects(app.store.lookup(job.route.key), job.request.headers, head,
                                  config.cache_targets, config.cookies)
    for entry in drops:
        app.store.discard(entry)
    for entry, merged in updates:
        fresh = refresh(entry, merged, request_time, app.now(), head, config.cache_targets)
        fresh.head = respond.entry_head(fresh)
        app.store.replace(entry, fresh)


