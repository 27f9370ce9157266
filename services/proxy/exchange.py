"""The exchange with the upstream shared by the cache cycle and forwarding: request fields, one request
sent (with one retry on a stale pooled connection), the response streamed to the client and stored.

Bodies are streamed from upstream to client as they arrive; a storable response is also collected, up to
`--max-object-size`, and stored at its end.
"""

from __future__ import annotations

import asyncio

from services.common.http1 import (
    LAST_CHUNK,
    Data,
    EndOfMessage,
    Headers,
    Response,
    build_request_head,
    build_response_head,
    encode_chunk,
)

from . import reply, respond
from .app import ProxyApp
from .body import BodyStream
from .cache.entry import make_entry
from .cache.storage import stored_fields, strip_hop_by_hop
from .cache.surrogate import CAPABILITY
from .cache.targeted import response_directives
from .cache.validation import CONDITIONALS
from .job import CACHEABLE_METHODS, Job
from .numbers import parse_uint
from .upstream import UpstreamConnection, UpstreamError

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


def upstream_headers(app: ProxyApp, job: Job, *, drop_conditionals: bool = False) -> Headers:
    """The fields sent upstream. A GET/HEAD body was read from the client and is dropped together with its
    framing (issue 16 #11): Content-Length / Transfer-Encoding never go out without their bytes."""
    req, route = job.request, job.route
    assert route is not None
    headers = strip_hop_by_hop(req.headers)
    for name in ("expect", "content-length", *(CONDITIONALS if drop_conditionals else ())):
        headers.remove(name)
    if route.host is not None:
        headers.set("Host", route.host)
    elif "host" not in headers:
        headers.set("Host", f"{route.origin[0]}:{route.origin[1]}")
    if job.stream is not None:
        headers.add("Content-Length", str(job.stream.declared))  # passed through as it arrives
    elif req.method not in CACHEABLE_METHODS and (job.body or req.method in ("POST", "PUT", "PATCH")):
        headers.add("Content-Length", str(len(job.body)))  # framing of the body `exchange` sends
    headers.add("Via", respond.VIA)
    if app.config.mode == "reverse":
        headers.add("Surrogate-Capability", CAPABILITY)
    return headers


async def exchange(app: ProxyApp, job: Job, method: str, headers: Headers,
                   body: bytes) -> tuple[UpstreamConnection, Response]:
    """Send one request upstream; retry once on a pooled connection the upstream had closed."""
    assert job.route is not None
    head = build_request_head(method, job.route.target, headers)
    data, rest = (head + body, b"") if len(body) < 65536 else (head, body)
    for attempt in (0, 1):
        conn, reused = await app.pool.acquire(job.route.origin)
        app.metrics.count("upstream_requests")
        conn.send(method, data, rest)
        try:
            event = await conn.next_event(app.config.upstream_timeout_s)
            while isinstance(event, Response) and event.status < 200:
                _forward_interim(job, event)
                event = await conn.next_event(app.config.upstream_timeout_s)
        except UpstreamError as exc:
            conn.close()
            if exc.status == 504:
                app.metrics.count("upstream_timeouts")
            # a pooled connection that failed before a response head: idempotent requests may be
            # repeated (RFC 9110 §9.2.2), once, on a new connection
            if reused and attempt == 0 and exc.status == 502 and method in IDEMPOTENT:
                continue
            raise
        if not isinstance(event, Response):
            conn.close()
            raise UpstreamError(502, "upstream sent no response head")
        return conn, event
    raise UpstreamError(502, "upstream closed the connection")


async def exchange_streamed(app: ProxyApp, job: Job, headers: Headers,
                            stream: BodyStream) -> tuple[UpstreamConnection, Response]:
    """Send the head at once, then the body as it arrives from the client, while waiting for the answer.

    The answer may come before the body is all sent (the upstream refuses it: 413): then the rest is not
    sent, and the connection is not reused. Not retried on a stale pooled connection: the body is gone
    once sent. The upstream timeout runs for a stalled upload, and for the answer once the body is out.
    """
    assert job.route is not None
    conn, _ = await app.pool.acquire(job.route.origin)
    app.metrics.count("upstream_requests")
    conn.send(job.request.method, build_request_head(job.request.method, job.route.target, headers))
    timeout_s = app.config.upstream_timeout_s
    pump = asyncio.get_running_loop().create_task(_pump(conn, stream, timeout_s))
    head = asyncio.get_running_loop().create_task(_response_head(job, conn))
    try:
        await asyncio.wait((pump, head), return_when=asyncio.FIRST_COMPLETED)
        if not head.done():
            if pump.exception() is not None:
                raise pump.exception()  # type: ignore[misc]
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(head)
        resp = head.result()
    except TimeoutError:
        conn.close()
        app.metrics.count("upstream_timeouts")
        raise UpstreamError(504, "upstream timed out") from None
    except UpstreamError:
        conn.close()
        raise
    finally:
        for task in (pump, head):
            if not task.done():
                task.cancel()
    if not (pump.done() and not pump.cancelled() and pump.exception() is None):
        stream.close()  # answered before the whole body went out: the connection cannot be reused
        conn.spoiled = True
    return conn, resp


async def _pump(conn: UpstreamConnection, stream: BodyStream, timeout_s: float) -> None:
    assert conn.transport is not None
    while (piece := await stream.next()) is not None:
        conn.transport.write(piece)
        await conn.drain(timeout_s)


async def _response_head(job: Job, conn: UpstreamConnection) -> Response:
    """The final response head (1xx forwarded); no timeout of its own: the caller decides."""
    event = await conn.next_event(None)
    while isinstance(event, Response) and event.status < 200:
        _forward_interim(job, event)
        event = await conn.next_event(None)
    if not isinstance(event, Response):
        raise UpstreamError(502, "upstream sent no response head")
    return event


def _forward_interim(job: Job, interim: Response) -> None:
    """RFC 9110 §15.2: a proxy forwards 1xx responses (e.g. 103 Early Hints) it did not ask for itself;
    never to an HTTP/1.0 client, never stored. Not forwarded: 100 (the proxy removes `Expect` and answers
    `100 Continue` itself) and 101 (the proxy removes `Upgrade`, so a switch was never requested)."""
    if job.request.version != "HTTP/1.1" or interim.status in (100, 101):
        return
    job.client.write(build_response_head(interim.status, strip_hop_by_hop(interim.headers), interim.reason))


def _fits(app: ProxyApp, resp: Response) -> bool:
    """A declared length the store can take (or none: checked while the body arrives)."""
    length = resp.headers.get("content-length")
    size = parse_uint(length.strip()) if length is not None else 0
    return size is not None and app.store.fits(size)


def _client_head(job: Job, resp: Response, cache_status: str) -> tuple[bytes, bool]:
    """The head sent to the client and whether the body is chunk-encoded on the way."""
    fields = respond.forwarded_response_fields(resp.headers, cache_status)
    has_body = not (job.head_only or resp.status in (204, 304) or resp.status < 200)
    chunked = False
    if has_body and "content-length" not in resp.headers:
        if job.request.version == "HTTP/1.1":
            fields.set("Transfer-Encoding", "chunked")
            chunked = True
        else:
            job.close = True
    head = build_response_head(resp.status, fields, resp.reason)
    return respond.with_connection(head, job.connection), chunked


async def stream_response(app: ProxyApp, job: Job, conn: UpstreamConnection, resp: Response,
                          request_time: float, cache_status: str, leader: asyncio.Future[None] | None,
                          *, store: bool) -> None:
    """Forward the response; `store`: the policy says store it (done if it fits `--max-object-size`)."""
    assert job.route is not None
    store = store and _fits(app, resp)
    if not store:
        app.metrics.count("uncacheable")
        if leader is not None and not leader.done():
            leader.set_result(None)  # waiters fetch for themselves
    head, chunked = _client_head(job, resp, cache_status)
    client, send_body = job.client, not job.head_only
    client.write(head)
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            event = await conn.next_event(app.config.upstream_timeout_s)
            if isinstance(event, EndOfMessage):
                break
            if not isinstance(event, Data):
                continue
            size += len(event.data)
            if send_body:
                client.write(encode_chunk(event.data) if chunked else event.data)
                await client.drain()
                if client.closed:  # gone or dropped by --send-timeout: free the upstream connection too
                    raise UpstreamError(499, "client went away")
            if store:
                parts.append(event.data)
                store = size <= app.store.max_object_bytes
    except UpstreamError as exc:
        conn.close()
        job.close = True
        client.abort()
        if exc.status != 499:
            app.metrics.count("upstream_errors")
        reply.streamed(app, job, resp.status, cache_status, len(head) + size)
        return
    if chunked and send_body:
        client.write(LAST_CHUNK)
    app.pool.release(job.route.origin, conn, resp)
    app.metrics.count("bytes_from_upstream", len(head) + size)
    if store:
        _store(app, job, resp, b"".join(parts), request_time)
    reply.streamed(app, job, resp.status, cache_status, len(head) + size)


def _store(app: ProxyApp, job: Job, resp: Response, body: bytes, request_time: float) -> None:
    assert job.route is not None
    cc = response_directives(resp.headers, app.config.cache_targets)
    headers = stored_fields(resp.headers, cc, app.config.cookies)
    headers.add("Via", respond.VIA)
    entry = make_entry(job.route.key, resp.status, resp.reason, headers, body, job.request.headers,
                       request_time, app.now(), resp.headers, app.config.cache_targets)
    entry.head = respond.entry_head(entry)
    app.store.put(entry)
