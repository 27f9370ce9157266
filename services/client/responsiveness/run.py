"""`client responsiveness` as a function: run the test, return its rows (and the saved series)."""

from __future__ import annotations

import argparse
import random
import sys
from typing import Any

from services.client.context import UsageError
from services.client.family import first_address
from services.client.httpc import resolve_target
from services.client.qos.config import QosConfig
from services.client.qos.runner import wait_for_echo
from services.client.responsiveness import analyze, engine, series
from services.client.responsiveness.config import RespConfig, RespConfigError
from services.client.runs import RunContext
from services.common.inet import BOTH, format_host_port

Row = dict[str, Any]
KIND = "responsiveness"


def responsiveness_test(config: RespConfig, ctx: RunContext, *, ready_timeout_s: float = 0.0,
                        progress: bool = False, seed: int | None = None) -> tuple[list[Row], dict[str, Any]]:
    """Rows (one per phase, then the summary) and the series to save; never raises for the network."""
    target = config.proxy or config.udp_target
    name = format_host_port(*target) if target else config.download_url
    base = ctx.row(KIND, name)
    if config.udp_target is not None and ready_timeout_s > 0:
        host, port = config.udp_target
        wait_for_echo(QosConfig(host=host, port=port, family=config.family), ready_timeout_s)
    try:
        download = resolve_target(config.download_url, config.proxy)
        base["ip_version"] = first_address(download.host, download.port, config.family)[1]
        records = engine.run(config, random.Random(seed), engine.stderr_if_tty() if progress else None)
    except OSError as exc:  # a name that does not resolve: nothing was measured
        return [{**base, "phase": "all", "ok": False, "error": f"{type(exc).__name__}: {exc}"}], {}
    rows = [{**base, **row, "url": config.download_url} for row in analyze.analyze(config, records)]
    meta = {"run_id": ctx.run_id, "label": ctx.label, "profile": ctx.profile, "replica": ctx.replica}
    return rows, series.build(config, records, rows, meta)


def config_from(ns: argparse.Namespace) -> RespConfig:
    """The test's parameters from the command's flags; UsageError when they do not make a test."""
    try:
        return RespConfig(
            download_url=ns.download_url, upload_url=ns.upload_url, probe_url=ns.probe_url, proxy=ns.proxy,
            udp_target=ns.target if ns.udp else None, phases=ns.phases, idle_s=ns.idle_time,
            load_s=ns.load_time, gap_s=ns.gap, window_s=ns.window, flows_down=ns.flows_down,
            flows_up=ns.flows_up, udp_interval_s=ns.probe_interval, foreign_interval_s=ns.foreign_interval,
            upload_bytes=ns.upload_size, timeout_s=ns.timeout,
            family=ns.family if ns.family != BOTH else "auto").validate()
    except RespConfigError as exc:
        raise UsageError(str(exc)) from exc


def seed_of(ns: argparse.Namespace) -> int | None:
    text = str(getattr(ns, "seed", "") or "").strip()
    try:
        return int(text) if text else None
    except ValueError as exc:
        raise UsageError(f"--seed: not a whole number: {text!r}") from exc


def save_series(path: str, data: dict[str, Any]) -> bool:
    """Write the saved run; False (with the reason on stderr) when it cannot be written."""
    try:
        series.save(path, data)
    except OSError as exc:
        print(f"error: cannot write the series to {path}: {exc.strerror or exc}", file=sys.stderr)
        return False
    return True
