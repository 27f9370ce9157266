"""What the proxy answers itself, never forwarded: `/_proxy/health` (everyone), `/_proxy/stats` and
`/metrics` (only `--stats-allow` clients: they list clients' addresses and cache contents), and `PURGE`
(only `--purge-allow` clients)."""

from __future__ import annotations

from typing import Any

from services.common.inet import normal_host
from services.common.metrics import CONTENT_TYPE as METRICS_TYPE

from . import reply, respond
from .app import ProxyApp
from .job import Job
from .metrics import PATH as METRICS_PATH
from .target import TargetError

HEALTH = "/_proxy/health"
STATS = "/_proxy/stats"


def is_internal(target: str) -> bool:
    return target.startswith("/_proxy/") or target.split("?")[0] == METRICS_PATH


def answer(app: ProxyApp, job: Job) -> None:
    path, status = job.request.target.split("?")[0], 200
    if path == HEALTH:
        data = respond.simple_response(200, b"ok\n", connection=job.connection, head_only=job.head_only)
    elif not client_in(job, app.config.stats_clients):
        reply.error(app, job, 403, "proxy statistics not allowed from this client")
        return
    elif path == STATS:
        data = respond.json_response(stats(app), connection=job.connection, head_only=job.head_only)
    elif path == METRICS_PATH:
        data = respond.simple_response(200, app.metrics.exposition(stats(app)), content_type=METRICS_TYPE,
                                       connection=job.connection, head_only=job.head_only)
    else:
        data, status = respond.error_response(404, "no such proxy endpoint", connection=job.connection), 404
    reply.finish(app, job, data, status, "-")


def purge(app: ProxyApp, job: Job) -> None:
    """Remove every stored variant of the target: 200, or 404 when there was none."""
    if not client_in(job, app.config.purge_clients):
        reply.error(app, job, 403, "PURGE not allowed from this client")
        return
    try:
        route = app.config.route(job.request.target)
    except TargetError as exc:
        reply.error(app, job, exc.status, exc.message)
        return
    removed = app.store.remove(route.key)
    app.metrics.count("purges")
    status = 200 if removed else 404
    data = respond.simple_response(status, f'{{"purged": {removed}}}\n'.encode(),
                                   content_type="application/json", connection=job.connection)
    reply.finish(app, job, data, status, "PURGE")


def client_in(job: Job, allowed: frozenset[str]) -> bool:
    return normal_host(job.client.peer.rpartition(":")[0].strip("[]")) in allowed


def stats(app: ProxyApp) -> dict[str, Any]:
    """The JSON of `/_proxy/stats` (and the counters `/metrics` renders)."""
    store = app.store
    data = app.metrics.counts.as_dict(len(store), store.used_bytes, store.max_bytes, store.evictions)
    data["variant_evictions"] = store.variant_evictions
    data["fd_exhaustion_episodes"] = app.fds.count
    data["upstream_connects"] = app.pool.connects
    data["upstream_reuses"] = app.pool.reuses
    if app.udp_stats is not None:
        data["udp"] = app.udp_stats()
    return data
