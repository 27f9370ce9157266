"""Which path a request takes: the proxy's own paths, PURGE, CONNECT, the cache (GET/HEAD) or forwarding.

`handle` answers what it can at once and returns a coroutine only when the upstream is needed.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from . import internal, reply
from .app import ProxyApp
from .cycle import serve_cached
from .forwarding import forward
from .job import CACHEABLE_METHODS, Job
from .target import TargetError, connect_route


def handle(app: ProxyApp, job: Job) -> Coroutine[Any, Any, None] | None:
    app.metrics.request()
    req = job.request
    if internal.is_internal(req.target):
        internal.answer(app, job)
        return None
    if req.method == "PURGE":
        internal.purge(app, job)
        return None
    try:
        if req.method == "CONNECT":
            return _connect(app, job)
        job.route = app.config.route(req.target)
    except TargetError as exc:
        reply.error(app, job, exc.status, exc.message)
        return None
    if req.method in CACHEABLE_METHODS:
        return serve_cached(app, job)
    return forward(app, job)


def _connect(app: ProxyApp, job: Job) -> Coroutine[Any, Any, None] | None:
    if app.config.mode != "forward":
        raise TargetError(405, "CONNECT is only served in forward mode")
    origin = connect_route(job.request.target, app.config.allow)
    if origin[1] not in app.config.connect_ports:
        raise TargetError(403, f"CONNECT to port {origin[1]} is not allowed")
    return job.client.start_tunnel(origin)
