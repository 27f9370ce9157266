"""`python -m services.client [suite|qos|http|load|responsiveness|menu|plot] …`.

Exit 0 ok, 1 test failed, 2 bad usage.

Without a subcommand: the menu when stdin is a terminal, the suite otherwise (`docker compose up`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from typing import Any

from services.client import gating, options, report, results
from services.client.context import UsageError, context, same_clock
from services.client.family import runs
from services.client.gates import GateError
from services.client.qos.config import QosConfig, QosConfigError, parse_rate
from services.client.responsiveness import report as resp_report
from services.client.runs import http_test, load_test, qos_test_raw
from services.common import log
from services.common.config import add_options, parse_duration_s
from services.common.inet import family_conflict

COMMANDS = ("suite", "qos", "http", "load", "responsiveness", "menu", "plot")
GATED = frozenset({"suite", "qos", "http", "load", "responsiveness"})  # --assert / --junit


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    specs: dict[str, tuple[str, list[Any]]] = {
        "suite": ("default one-shot run: HTTP miss+hit, UDP QoS burst, multi-client load", options.SUITE),
        "qos": ("UDP QoS test against an echo (through the proxy's relay by default)", options.QOS),
        "http": ("HTTP GET with timing breakdown and X-Cache", options.HTTP),
        "load": ("N concurrent HTTP clients: req/s, latency percentiles, errors", options.LOAD),
        "responsiveness": ("latency under load: idle/download/upload/both phases, RPM, bufferbloat grade",
                           options.RESPONSIVENESS),
        "menu": ("interactive menu", []),
    }
    for name, (help_text, extra) in specs.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name in {"http", "load"}:
            command.add_argument("url_arg", nargs="?", metavar="URL", help="URL (default: --url)")
        add_options(command, [*options.COMMON, *extra])
        add_family_switches(command)
        if name != "menu":
            gating.add_arguments(command)
    plot = sub.add_parser("plot", help="raw per-probe CSVs or saved responsiveness runs → PNGs "
                                       "(needs matplotlib)")
    plot.add_argument("raw", nargs="+", help="raw CSV files written by qos --raw, or JSON files written "
                                             "by responsiveness --series (→ RRUL-style plots)")
    plot.add_argument("--out", default="results/plots", help="output directory (default results/plots)")
    plot.add_argument("--link", metavar="TIMELINE",
                      help="a netem timeline (results/netem-timeline.csv): adds link.png, configured vs "
                           "measured per window")
    plot.add_argument("--window", default="1s", type=parse_duration_s,
                      help="window of link.png (default 1s)")
    return parser


def add_family_switches(command: argparse.ArgumentParser) -> None:
    """`-4/--ipv4` and `-6/--ipv6`: short for `--family 4` and `--family 6` (the last one given wins)."""
    for short, version in (("-4", "4"), ("-6", "6")):
        command.add_argument(short, f"--ipv{version}", dest="family", action="store_const", const=version,
                             help=f"use IPv{version} only (--family {version})")


def check_family(ns: argparse.Namespace, hosts: Sequence[str]) -> None:
    """A literal of the other family than `-4`/`-6` asks for is a usage error, before anything runs."""
    for host in hosts:
        conflict = family_conflict(host, ns.family)
        if conflict is not None:
            raise UsageError(conflict)


def _url_host(ns: argparse.Namespace, url: str) -> list[str]:
    from services.client.httpc import resolve_target

    try:
        return [resolve_target(url, ns.proxy).host]
    except ValueError:
        return []  # the test itself reports the bad URL


def qos_config(ns: argparse.Namespace, count: int | None = None,
               interval_s: float | None = None) -> QosConfig:
    host, port = ns.target
    try:
        interval = interval_s if interval_s is not None else ns.interval
        if getattr(ns, "rate", ""):
            interval = parse_rate(ns.rate, getattr(ns, "size", 48))
        wait = getattr(ns, "wait", "")
        seed = getattr(ns, "seed", "")
        duration = getattr(ns, "duration", 0.0)
        return QosConfig(
            host=host, port=port, count=None if duration else (count or ns.count),
            duration_s=duration or None, interval_s=interval, size=getattr(ns, "size", 48),
            poisson=getattr(ns, "poisson", False), burst=getattr(ns, "burst", 1), tos=getattr(ns, "tos", 0),
            wait_s=parse_duration_s(wait) if wait else None, seed=int(seed) if seed else None,
        ).validate()
    except (QosConfigError, ValueError) as exc:
        raise UsageError(str(exc)) from exc


def save(path: str, rows: Sequence[dict[str, Any]], columns: Sequence[str] = results.COLUMNS) -> bool:
    """Append rows to a results file; False (with a message on stderr) when they could not be written."""
    try:
        done = results.append_rows(path, rows, columns)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"error: cannot write results to {path}: {reason} ({type(exc).__name__}); "
              "the result is printed on stdout as JSON instead", file=sys.stderr)
        return False
    if done.note():
        print(f"note: {done.note()}", file=sys.stderr)
    return True


def emit(rows: Sequence[dict[str, Any]], ns: argparse.Namespace, *, config: QosConfig | None = None,
         raw_rows: Sequence[dict[str, Any]] = (), settings: dict[str, dict[str, Any]] | None = None) -> bool:
    """Append to the CSV (and the raw CSV), print JSON lines or the human blocks; keep the rows for the
    gates (`main`).

    False when a result could not be written: the message is on stderr and every row not written is
    printed on stdout as a JSON line, so nothing measured is lost.
    """
    ns.emitted = [*getattr(ns, "emitted", []), *rows]  # kept for the gates (`main`)
    saved = save(ns.csv, rows) if ns.csv else True
    raw_saved = save(ns.raw, raw_rows, results.RAW_COLUMNS) if getattr(ns, "raw", "") else True
    for row in rows:
        if ns.json or not saved:
            kind = str(row.get("kind"))
            used = (settings or {}).get(kind) or (
                {**config.as_dict(), "family": ns.family} if config and kind in report.QOS_KINDS else {})
            results.write_json_line(sys.stdout, {"config": used, "result": row})
        if not ns.json:
            print("\n".join(report.block(row)))
    if not raw_saved:
        for raw in raw_rows:
            results.write_json_line(sys.stdout, {"raw": raw})
    return saved and raw_saved


def cmd_qos(ns: argparse.Namespace) -> int:
    check_family(ns, [ns.target[0]])
    config, ctx = qos_config(ns), context(ns)
    try:
        pause = options.start_delay_s(ns.start_at, time.time())
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if pause:
        log.event("client.start_at", start_at=f"{ns.start_at:.3f}", wait_s=f"{pause:.3f}")
        time.sleep(pause)
    rows, raw_rows = [], []
    for family in runs(ns.family):
        row, raws = qos_test_raw(dataclasses.replace(config, family=family), ctx, same_clock=same_clock(ns),
                                 raw=bool(ns.raw), ready_timeout_s=ns.ready_timeout, progress=not ns.json)
        rows.append(row)
        raw_rows += raws
    written = emit(rows, ns, config=config, raw_rows=raw_rows)
    return 0 if all(r.get("ok") for r in rows) and written else 1


def cmd_http(ns: argparse.Namespace) -> int:
    from services.client.suite import bust

    ctx = context(ns)
    url = ns.url_arg or ns.url
    check_family(ns, _url_host(ns, url))
    families = runs(ns.family)
    rows = [http_test(bust(url, ctx.run_id, family if len(families) > 1 else "") if ns.cache_bust else url,
                      ns.proxy, ctx, timeout_s=ns.timeout, family=family)
            for family in families for _ in range(ns.repeat)]
    written = emit(rows, ns)
    return 0 if all(r.get("ok") for r in rows) and written else 1


def cmd_load(ns: argparse.Namespace) -> int:
    from services.client.qos.runner import is_tty

    url = ns.url_arg or ns.url
    check_family(ns, _url_host(ns, url))
    rows = [load_test(url, ns.proxy, ns.clients, ns.requests, context(ns), ns.timeout,
                      duration_s=ns.duration or None, rate_rps=ns.rate, pipeline=ns.pipeline,
                      workers=ns.workers, progress=not ns.json and is_tty(sys.stderr), family=family)
            for family in runs(ns.family)]
    written = emit(rows, ns)
    return 0 if all(r.get("ok") for r in rows) and written else 1


def cmd_responsiveness(ns: argparse.Namespace) -> int:
    from services.client.responsiveness.run import config_from, responsiveness_test, save_series, seed_of

    config = config_from(ns)
    urls = (ns.download_url, ns.upload_url, ns.probe_url)
    check_family(ns, [*([ns.target[0]] if ns.udp else []), *(h for url in urls for h in _url_host(ns, url))])
    if not ns.json:
        print(f"responsiveness: {len(config.plan())} phases, {config.flows_down} down + {config.flows_up} up "
              f"flows, about {config.plan()[-1].end_s + config.linger_s:.0f} s", file=sys.stderr)
        print(resp_report.HEADER)
    rows, written, ctx = [], True, context(ns)
    for family in runs(ns.family):
        config = dataclasses.replace(config, family=family)
        found, saved = responsiveness_test(config, ctx, ready_timeout_s=ns.ready_timeout,
                                           progress=not ns.json, seed=seed_of(ns))
        written = emit(found, ns, settings={"responsiveness": config.as_dict()}) and written
        if ns.series and saved:  # with --family both the IPv6 run's series is the one kept
            written = save_series(ns.series, saved) and written
        rows += found
    return 0 if rows and all(r.get("ok") for r in rows) and written else 1


def cmd_suite(ns: argparse.Namespace) -> int:
    from services.client.suite import run_suite, suite_hosts

    check_family(ns, [*_url_host(ns, ns.url), *suite_hosts(ns)])
    config, ctx = qos_config(ns, count=ns.suite_count, interval_s=ns.suite_interval), context(ns)
    families = runs(ns.family)
    per_family = [(family, run_suite(ns, config, ctx, same_clock(ns), family, tagged=len(families) > 1,
                                     responsiveness=family == families[-1]))
                  for family in families]
    rows = [row for _, family_rows in per_family for row in family_rows]
    written = emit(rows, ns, config=config, settings=getattr(ns, "resp_settings", None))
    if not ns.json:
        table = report.family_table(per_family) if len(families) > 1 else report.summary_table(rows)
        print("\n".join(["", *table]))
    return 0 if rows and all(r.get("ok") for r in rows) and written else 1


def cmd_plot(ns: argparse.Namespace) -> int:
    from services.client.plot import PlotError, plot_files
    from services.client.responsiveness.plot import plot_series
    from services.client.responsiveness.series import is_series

    saved = [path for path in ns.raw if is_series(path)]
    raw = [path for path in ns.raw if path not in saved]
    try:
        written = [*(plot_files(raw, ns.out, ns.link, ns.window) if raw else []),
                   *(plot_series(saved, ns.out) if saved else [])]
    except PlotError as exc:
        print(f"plot: {exc}", file=sys.stderr)
        return 1
    print("\n".join(written))
    return 0


def cmd_menu(ns: argparse.Namespace) -> int:
    from services.client.menu import Menu

    return Menu(ns).run()


def _default_command(argv: list[str]) -> list[str]:
    if argv and (argv[0] in COMMANDS or argv[0] in {"-h", "--help"}):
        return argv
    return ["menu" if sys.stdin.isatty() else "suite", *argv]


def main(argv: Sequence[str] | None = None) -> int:
    args = _default_command(list(sys.argv[1:] if argv is None else argv))
    log.configure("client", stream=sys.stderr)
    try:
        ns = build_parser().parse_args(args)
    except SystemExit as exc:  # argparse: --help exits 0, errors exit 2
        return int(exc.code) if isinstance(exc.code, int) else 2
    handlers = {"suite": cmd_suite, "qos": cmd_qos, "http": cmd_http, "load": cmd_load, "menu": cmd_menu,
                "plot": cmd_plot, "responsiveness": cmd_responsiveness}
    try:
        assertions = gating.parse(ns) if ns.command in GATED else []
        status = handlers[ns.command](ns)
        if ns.command in GATED:
            return gating.finish(ns, status, getattr(ns, "emitted", []), assertions)
        return status
    except (UsageError, GateError) as exc:
        print(f"usage error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
