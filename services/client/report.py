"""Human-readable output of result rows: one block per test and the suite's summary table."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from services.client.responsiveness import report as resp_report

RESPONSIVENESS = "responsiveness"


def _num(value: Any, digits: int = 3) -> str:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def qos_block(row: Mapping[str, Any]) -> list[str]:
    stats = ("min", "mean", "median", "p90", "p95", "p99", "max", "stddev")
    lines = [f"UDP QoS {row.get('target')}: sent {_num(row.get('packets_sent'))}, "
             f"received {_num(row.get('packets_received'))}, lost {_num(row.get('lost_packets'))} "
             f"({_num(row.get('loss_pct'), 2)} %; up {_num(row.get('lost_up_packets'))}, "
             f"down {_num(row.get('lost_down_packets'))}; wait {_num(row.get('loss_wait_s'), 2)} s)"]
    lines.append("  " + "".join(f"{name:>9}" for name in ("ms", *stats)))
    for prefix, title in (("rtt", "RTT"), ("owd_up", "up"), ("owd_down", "down")):
        if row.get(f"{prefix}_min_ms") is None:
            continue
        values = "".join(f"{_num(row.get(f'{prefix}_{s}_ms')):>9}" for s in stats)
        lines.append(f"  {title:>9}{values}")
    clock = {"shared": "same clock", "relative": "relative to min (separate clocks)",
             "omitted": "omitted (separate clocks)"}
    lines.append(f"  jitter {_num(row.get('jitter_ms'))} ms  IPDV mean|.| {_num(row.get('ipdv_mean_abs_ms'))}"
                 f" p99 {_num(row.get('ipdv_p99_ms'))} ms  PDV p99 {_num(row.get('pdv_p99_ms'))} ms"
                 f"  one-way: {clock.get(str(row.get('owd_clock')), '?')}")
    lines.append(f"  late {_num(row.get('late_packets'))}  reordered {_num(row.get('reordered_packets'))}"
                 f"  duplicates {_num(row.get('duplicate_packets'))}  rejected "
                 f"{_num(row.get('rejected_packets'))}  missed sends {_num(row.get('missed_sends'))}")
    lines.append(f"  offered {_num(row.get('offered_pps'), 1)} pps / {_bits(row.get('offered_bps'))}"
                 f"  received {_num(row.get('received_pps'), 1)} pps / {_bits(row.get('received_bps'))}"
                 f"  timer error mean {_num(row.get('timer_error_mean_us'), 1)} µs"
                 f" p99 {_num(row.get('timer_error_p99_us'), 1)} µs"
                 f" max {_num(row.get('timer_error_max_us'), 1)} µs")
    return lines


def _bits(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        return "-"
    for unit, scale in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f} bit/s"


def http_block(row: Mapping[str, Any]) -> list[str]:
    if row.get("http_status") is None:
        return [f"HTTP {row.get('url')}: FAILED {row.get('error', '')}"]
    return [f"HTTP {row.get('url')}: {row.get('http_status')}  X-Cache {row.get('x_cache') or '-'}  "
            f"{row.get('body_bytes')} B  connect {_num(row.get('connect_ms'))} ms  TTFB "
            f"{_num(row.get('ttfb_ms'))} ms  total {_num(row.get('total_ms'))} ms  goodput "
            f"{_num(row.get('goodput_mbps'), 2)} Mbit/s"]


QOS_KINDS = frozenset({"qos", "qos_direct"})


def _latencies(row: Mapping[str, Any], prefix: str) -> str:
    return (f"median {_num(row.get(f'{prefix}_median_ms'))} p90 {_num(row.get(f'{prefix}_p90_ms'))} p99 "
            f"{_num(row.get(f'{prefix}_p99_ms'))} p99.9 {_num(row.get(f'{prefix}_p999_ms'))} p99.99 "
            f"{_num(row.get(f'{prefix}_p9999_ms'))} max {_num(row.get(f'{prefix}_max_ms'))} ms")


def load_block(row: Mapping[str, Any]) -> list[str]:
    mode = f"open loop {_num(row.get('rate_rps'), 0)} req/s" if row.get("rate_rps") else "closed loop"
    lines = [f"load {row.get('url')}: {row.get('clients')} clients, {mode}, {row.get('requests_ok')}/"
             f"{row.get('requests')} ok, {_num(row.get('req_per_s'), 1)} req/s, errors "
             f"{row.get('errors_by_kind') or 0}",
             f"  latency{' (corrected, from due time)' if row.get('rate_rps') else ''} "
             f"{_latencies(row, 'latency')}"]
    if row.get("rate_rps"):
        lines.append(f"  latency (uncorrected, from send) {_latencies(row, 'latency_uncorrected')}")
    return lines


def block(row: Mapping[str, Any]) -> list[str]:
    kind = str(row.get("kind", ""))
    if kind in QOS_KINDS:
        lines = qos_block(row) if row.get("packets_sent") else [f"UDP QoS {row.get('target')}: FAILED"]
    elif kind == "load":
        lines = load_block(row)
    elif kind == RESPONSIVENESS:
        return [resp_report.line(row)]
    else:
        lines = http_block(row)
    if row.get("error") and not row.get("ok"):
        lines.append(f"  error: {row['error']}")
    return lines


def _headline(row: Mapping[str, Any]) -> str:
    kind = row.get("kind")
    if kind in QOS_KINDS:
        return (f"RTT median {_num(row.get('rtt_median_ms'))} ms p99 {_num(row.get('rtt_p99_ms'))} ms, "
                f"loss {_num(row.get('loss_pct'), 2)} %, jitter {_num(row.get('jitter_ms'))} ms")
    if kind == "load":
        return (f"{_num(row.get('req_per_s'), 1)} req/s, p99 {_num(row.get('latency_p99_ms'))} ms, "
                f"errors {row.get('errors', '-')}")
    if kind == RESPONSIVENESS:
        median = row.get("rtt_median_ms") or row.get("loaded_rtt_median_ms")
        return (f"{row.get('phase')}: RPM {_num(row.get('rpm'), 0)}, grade "
                f"{row.get('bufferbloat_grade') or '-'}, RTT p50 {_num(median)} ms")
    return (f"{row.get('http_status', '-')} X-Cache {row.get('x_cache') or '-'}, TTFB "
            f"{_num(row.get('ttfb_ms'))} ms, total {_num(row.get('total_ms'))} ms")


def _brief(row: Mapping[str, Any]) -> str:
    """A test's headline in at most ~38 characters, for the side-by-side table."""
    if not row.get("ok"):
        return f"FAILED {row.get('error', '')}"[:38]
    kind = row.get("kind")
    if kind in QOS_KINDS:
        return (f"rtt {_num(row.get('rtt_median_ms'), 2)}/{_num(row.get('rtt_p99_ms'), 2)} ms "
                f"loss {_num(row.get('loss_pct'), 1)} %")
    if kind == "load":
        return f"{_num(row.get('req_per_s'), 0)} req/s p99 {_num(row.get('latency_p99_ms'), 2)} ms"
    return f"{row.get('http_status', '-')} {row.get('x_cache') or '-'} ttfb {_num(row.get('ttfb_ms'), 2)} ms"


def family_table(per_family: Sequence[tuple[str, Sequence[Mapping[str, Any]]]]) -> list[str]:
    """The suite run once per family, side by side: one line per test, a column per family
    (`per_family`: (family, its rows) in order; qos shows rtt median/p99)."""
    kinds: list[Any] = []
    cells: dict[tuple[Any, str], Mapping[str, Any]] = {}
    for family, rows in per_family:
        for row in rows:
            kind = row.get("kind", "?")
            kinds += [] if kind in kinds else [kind]
            cells[(kind, family)] = row
    header = "".join(f"{'IPv' + family:<40} " for family, _ in per_family).rstrip()
    lines = [f"{'test':<11} {header}", "-" * (12 + 41 * len(per_family))]
    for kind in kinds:
        row_cells = [_brief(cells[(kind, family)]) if (kind, family) in cells else "-"
                     for family, _ in per_family]
        lines.append(f"{kind!s:<11} " + "".join(f"{cell:<40} " for cell in row_cells).rstrip())
    return lines


def summary_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per test: kind, result, headline numbers."""
    lines = [f"{'test':<11} {'result':<7} details", "-" * 78]
    for row in rows:
        verdict = "ok" if row.get("ok") else "FAILED"
        detail = _headline(row) if row.get("ok") else str(row.get("error", ""))
        lines.append(f"{row.get('kind', '?')!s:<11} {verdict:<7} {detail}")
    return lines
