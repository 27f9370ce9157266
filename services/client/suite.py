"""The default one-shot run of `docker compose up`: HTTP miss then hit, a UDP QoS burst, 5-client load.

In direct mode (`--direct-url`, `--direct-target`; compose.direct.yaml sets both) the suite also measures
the path to the server without the proxy, as rows of kind `http_direct` and `qos_direct`, so one run
compares proxied and direct paths.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from services.client.qos.config import QosConfig
from services.client.runs import RunContext, http_test, load_test, qos_test
from services.common.inet import AUTO


def run_suite(ns: argparse.Namespace, config: QosConfig, ctx: RunContext, same_clock: bool | None,
              family: str = AUTO, *, tagged: bool = False,
              responsiveness: bool = True) -> list[dict[str, Any]]:
    """Rows of the suite over `family`, in order. The first contact of each kind retries while services
    start. `tagged` (one run per family): each family's miss/hit pair gets its own cache key;
    `responsiveness`: this run ends with `--responsiveness`'s test, if asked for (once per command)."""
    url = bust(ns.url, ctx.run_id, family if tagged else "") if ns.cache_bust else ns.url
    first = http_test(url, ns.proxy, ctx, kind="http_miss", timeout_s=ns.timeout,
                      ready_timeout_s=ns.ready_timeout, family=family)
    second = http_test(url, ns.proxy, ctx, kind="http_hit", timeout_s=ns.timeout, family=family)
    _expect_cache(first, "MISS")
    _expect_cache(second, "HIT")
    config = dataclasses.replace(config, family=family)
    qos = qos_test(config, ctx, same_clock=same_clock, ready_timeout_s=ns.ready_timeout)
    load = load_test(ns.url, ns.proxy, ns.clients, ns.requests, ctx, ns.timeout, family=family)
    return [first, second, qos, load, *_direct_rows(ns, config, ctx, same_clock),
            *(_responsiveness(ns, ctx) if responsiveness else [])]


def _responsiveness(ns: argparse.Namespace, ctx: RunContext) -> list[dict[str, Any]]:
    """With `--responsiveness`: the latency-under-load test last, its rows (and series) like the command's."""
    if not getattr(ns, "responsiveness", False):
        return []
    from services.client.responsiveness.run import config_from, responsiveness_test, save_series, seed_of

    config = config_from(ns)
    ns.resp_settings = {"responsiveness": config.as_dict()}
    rows, saved = responsiveness_test(config, ctx, seed=seed_of(ns))
    if ns.series and saved and not save_series(ns.series, saved):
        rows[-1] = {**rows[-1], "ok": False, "error": f"cannot write the series to {ns.series}"}
    return rows


def _direct_rows(ns: argparse.Namespace, config: QosConfig, ctx: RunContext,
                 same_clock: bool | None) -> list[dict[str, Any]]:
    """The same HTTP GET and UDP burst without the proxy (over the same family as `config`), when direct
    mode names the server."""
    rows = []
    if ns.direct_url:
        rows.append(http_test(ns.direct_url, None, ctx, kind="http_direct", timeout_s=ns.timeout,
                              ready_timeout_s=ns.ready_timeout, family=config.family))
    if ns.direct_target is not None:
        host, port = ns.direct_target
        direct = dataclasses.replace(config, host=host, port=port)
        rows.append(qos_test(direct, ctx, same_clock=same_clock, ready_timeout_s=ns.ready_timeout,
                             kind="qos_direct"))
    return rows


def suite_hosts(ns: argparse.Namespace) -> list[str]:
    """The hosts the suite connects to besides its URL's (the UDP target, the direct ones)."""
    hosts = [ns.target[0]]
    if ns.direct_target is not None:
        hosts.append(ns.direct_target[0])
    return hosts


def bust(url: str, run_id: str, family: str = "") -> str:
    """The URL with `qoslab_run=RUN_ID` (`RUN_ID-v6` for one family's run of several) added to its
    query: a cache key no earlier run has used."""
    token = f"{run_id}-v{family}" if family else run_id
    return f"{url}{'&' if '?' in url else '?'}qoslab_run={token}"


def _expect_cache(row: dict[str, Any], expected: str) -> None:
    """A cache that does not answer MISS then HIT fails the test (the proxy's whole point)."""
    if not row.get("ok"):
        return
    seen = str(row.get("x_cache", "")).upper()
    if not seen.startswith(expected):
        row["ok"] = False
        row["error"] = f"expected X-Cache {expected}, got {seen or 'none'}"
