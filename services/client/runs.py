"""The client's tests as functions returning one `qos_result.csv` row each (no printing, no files)."""

from __future__ import annotations

import dataclasses
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

from services.client import clocks, results
from services.client.family import NoAddress, addresses, first_address
from services.client.httpc import HttpClientError, fetch
from services.client.load.result import load_columns
from services.client.load.run import make_plan, progress_line, run_workers
from services.client.qos import analyze
from services.client.qos.config import QosConfig
from services.client.qos.runner import progress_stream, run_qos, wait_for_echo
from services.common.inet import AUTO, format_host_port

Row = dict[str, Any]
RETRY_STATUSES = frozenset({502, 503, 504})
RETRY_KINDS = frozenset({"refused", "dns", "reset", "closed"})  # while services start


@dataclass(frozen=True)
class RunContext:
    """What every row carries besides its measurements."""

    run_id: str
    label: str = ""
    profile: str = ""
    owd_clock: str = ""  # the run's clock mode (clocks.configured_mode), stated in rows without probes
    separate_clocks: str = clocks.RELATIVE  # one-way delays when the clocks are not shared
    replica: str = ""  # which client wrote the row (replicas of `--scale client=N`)
    condition: str = ""  # its class in a netem client mix

    def row(self, kind: str, target: str) -> Row:
        row = results.base_row(kind, target, run_id=self.run_id, label=self.label, profile=self.profile,
                               replica=self.replica, condition=self.condition)
        row[clocks.COLUMN] = self.owd_clock or None
        return row


def qos_test(config: QosConfig, ctx: RunContext, *, same_clock: bool | None = None,
             ready_timeout_s: float = 0.0, progress: bool = True, kind: str = "qos") -> Row:
    """One UDP QoS run → its row."""
    return qos_test_raw(config, ctx, same_clock=same_clock, ready_timeout_s=ready_timeout_s,
                        progress=progress, kind=kind, raw=False)[0]


def qos_test_raw(config: QosConfig, ctx: RunContext, *, same_clock: bool | None = None,
                 ready_timeout_s: float = 0.0, progress: bool = True, kind: str = "qos",
                 raw: bool = True) -> tuple[Row, list[Row]]:
    """One UDP QoS run → its row and (with `raw`) one row per probe (`results.RAW_COLUMNS`)."""
    row = ctx.row(kind, format_host_port(config.host, config.port))
    try:
        if ready_timeout_s > 0 and not wait_for_echo(config, ready_timeout_s, report=_to_stderr):
            return {**row, "ok": False, "error": _no_echo(config, ready_timeout_s)}, []
        run = run_qos(config, progress=progress_stream() if progress else None)
    except OSError as exc:
        return {**row, "ok": False, "error": f"{type(exc).__name__}: {exc}"}, []
    row.update(analyze.result_columns(run, same_clock, ctx.separate_clocks))
    if not row["ok"]:
        row["error"] = "no reply received"
    return row, analyze.raw_rows(run, ctx.run_id, ctx.label, same_clock, ctx.separate_clocks) if raw else []


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _no_echo(config: QosConfig, waited_s: float) -> str:
    """Why no probe came back: the target has no address of the family asked for, or it did not answer."""
    try:
        addresses(config.host, config.port, config.family, socket.SOCK_DGRAM)
    except NoAddress as exc:
        return str(exc.strerror)
    except OSError:
        pass
    return f"no echo reply within {waited_s:g} s"


def http_test(url: str, proxy: tuple[str, int] | None, ctx: RunContext, *, kind: str = "http",
              timeout_s: float = 10.0, ready_timeout_s: float = 0.0, family: str = AUTO) -> Row:
    """One GET over `family` with its timing breakdown, status, bytes and X-Cache."""
    row = ctx.row(kind, url)
    row["url"] = url
    deadline = time.monotonic() + ready_timeout_s
    while True:
        try:
            response = fetch(url, proxy, timeout_s, family=family)
            if response.status not in RETRY_STATUSES or time.monotonic() >= deadline:
                break
            time.sleep(0.25)  # the proxy is up but its upstream is still starting
        except HttpClientError as exc:
            # a name without an address of the family asked for: waiting cannot help
            retry = exc.kind in RETRY_KINDS and not isinstance(exc.__cause__, NoAddress)
            if not retry or time.monotonic() >= deadline:
                return {**row, "ok": False, "error": str(exc)}
            time.sleep(0.25)
        except ValueError as exc:
            return {**row, "ok": False, "error": str(exc)}
    row.update({
        "http_status": response.status, "x_cache": response.x_cache, "body_bytes": response.body_bytes,
        "connect_ms": response.connect_ns / 1e6, "ttfb_ms": response.ttfb_ns / 1e6,
        "total_ms": response.total_ns / 1e6, "goodput_mbps": response.goodput_bps / 1e6,
        "ok": 200 <= response.status < 400, "ip_version": response.ip_version,
    })
    if not row["ok"]:
        row["error"] = f"HTTP {response.status}"
    return row


def load_test(url: str, proxy: tuple[str, int] | None, clients: int, requests: int | None, ctx: RunContext,
              timeout_s: float = 10.0, *, duration_s: float | None = None, rate_rps: float | None = None,
              pipeline: int = 1, workers: int = 1, progress: bool = False, family: str = AUTO) -> Row:
    """N keep-alive connections, closed or open loop → requests/s, latency percentiles, errors by kind.
    The host is resolved once, over `family`; every connection goes to that address."""
    row = ctx.row("load", url)
    row["url"] = url
    try:
        plan = make_plan(url, proxy, clients=clients, requests=None if duration_s else requests,
                         duration_s=duration_s or None, rate_rps=rate_rps, pipeline=pipeline,
                         timeout_s=timeout_s)
        address, row["ip_version"] = first_address(plan.host, plan.port, family)
    except ValueError as exc:
        return {**row, "ok": False, "error": str(exc)}
    except NoAddress as exc:  # never fall back to the other family
        return {**row, "ok": False, "error": f"dns: {exc.strerror}"}
    except OSError:
        address = plan.host  # every connection attempt fails as `dns` and is counted
    plan = dataclasses.replace(plan, host=address)
    stats = run_workers(plan, workers, progress_line() if progress else None)
    if progress:
        print(file=sys.stderr)
    row.update(load_columns(plan, stats))
    if not row["ok"]:
        row["error"] = f"{row['errors']} of {row['requests']} requests failed"
    return row
