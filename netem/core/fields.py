"""One link end's impairment settings (the tc-netem fields): the one table of what each field is.

A settings block is a mapping of field → value with units. `FIELDS` holds every fact about a field in its
row: the attribute, the parser and what is allowed, the qdisc it needs, the field it needs (iproute2's
cross-field rule, checked by `rules.violations`) and its argv fragment (joined by `tc.netem_args`).
Unknown keys are errors that list the allowed ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any

from netem.core import queue as queue_module
from netem.core import units
from netem.core.errors import ProfileError
from netem.core.queue import Queue
from netem.core.units import format_percent, format_rate, format_time

DISTRIBUTIONS = ("normal", "pareto", "paretonormal", "uniform")
DIST_SUFFIX = ".dist"  # a table file in iproute2's maketable format, next to the profile
TRACE_KEYS = ("file", "window", "loop")
TRACE_WINDOW_MS = (10, 20, 1000)  # allowed minimum, default, maximum of a Mahimahi trace's rate window


@dataclass(frozen=True)
class GeModel:
    """Gilbert-Elliott loss (tc `loss gemodel p [r [1-h [1-k]]]`), all in percent."""

    p_pct: float
    r_pct: float | None = None
    one_minus_h_pct: float | None = None
    one_minus_k_pct: float | None = None


@dataclass(frozen=True)
class Slot:
    """tc `slot MIN [MAX] [packets N] [bytes B]`: packets leave in bursts, as on Wi-Fi/DOCSIS."""

    min_us: int
    max_us: int | None = None
    packets: int | None = None
    bytes: int | None = None


@dataclass(frozen=True)
class TraceRef:
    """`trace:` of an end: a Mahimahi or CSV file relative to the profile (netem.traces reads it)."""

    file: str
    window_ms: int = TRACE_WINDOW_MS[1]
    loop: bool | None = None  # None: the format's own (Mahimahi repeats, a CSV series holds its last row)


@dataclass(frozen=True)
class Impairment:
    """Settings for the egress of one end of one link; None means "not set"."""

    delay_us: int | None = None
    jitter_us: int | None = None
    correlation_pct: float | None = None
    distribution: str | None = None
    loss_pct: float | None = None
    loss_correlation_pct: float | None = None
    gemodel: GeModel | None = None
    duplicate_pct: float | None = None
    duplicate_correlation_pct: float | None = None
    corrupt_pct: float | None = None
    corrupt_correlation_pct: float | None = None
    reorder_pct: float | None = None
    reorder_correlation_pct: float | None = None
    gap: int | None = None
    rate_bps: int | None = None
    packet_overhead: int | None = None
    limit: int | None = None
    slot: Slot | None = None
    queue: Queue | None = None
    trace: TraceRef | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def set_keys(self) -> list[str]:
        """Profile keys (not attribute names) that are set, in schema order."""
        return [key for key, field in FIELDS.items() if getattr(self, field.attr) is not None]

    def netem_keys(self) -> list[str]:
        """The keys this end sets that only netem can do (each field's row says)."""
        return [key for key in self.set_keys() if FIELDS[key].qdisc == NETEM]

    @cached_property
    def kind(self) -> str | None:
        """`netem`, `tbf` (a rate-only end: works without sch_netem), or None for an unimpaired end (the
        interface keeps its default qdisc). Decided once per end, here."""
        if self.is_empty():
            return None
        return "netem" if self.netem_keys() else "tbf"

    @property
    def layout(self) -> str | None:
        """The end's qdisc tree: `netem`, `tbf`, or with a queue `netem>tbf>fq_codel` (a step may not
        change it: `tc qdisc change` cannot switch a qdisc's kind)."""
        return f"{self.kind}>tbf>{self.queue.kind}" if self.kind and self.queue is not None else self.kind


def merge(base: Impairment, override: Impairment) -> Impairment:
    """Field-wise: what `override` sets wins, the rest comes from `base`."""
    changes = {f.name: getattr(override, f.name) for f in fields(override)
               if getattr(override, f.name) is not None}
    return replace(base, **changes)


Parser = Callable[[object], Any]


def _int_in(low: int, high: int) -> Parser:
    def parse(value: object) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return None
        return value
    return parse


def _choice(value: object) -> str | None:
    """A built-in table name, or a table file next to the profile (`recorded.up.dist`)."""
    if not isinstance(value, str):
        return None
    is_file = value.endswith(DIST_SUFFIX) and len(value) > len(DIST_SUFFIX) and "\0" not in value
    return value if value in DISTRIBUTIONS or is_file else None


def custom_table(imp: Impairment) -> str | None:
    """The table file of an end whose distribution is one (not a built-in name), else None."""
    return imp.distribution if imp.distribution and imp.distribution.endswith(DIST_SUFFIX) else None


def _distribution_argv(name: str) -> list[str]:
    """A built-in table by name; a table file is not where tc looks (TC_LIB_DIR): netlink sends it."""
    return [] if name.endswith(DIST_SUFFIX) else ["distribution", name]


_PCT = (units.parse_percent, units.PERCENT_ALLOWED)
_TIME = (units.parse_time_us, units.TIME_ALLOWED)
_INT_PACKETS = (_int_in(1, 2**31 - 1), "a whole number of packets >= 1")

_GEMODEL_KEYS: dict[str, tuple[str, Parser, str]] = {
    "p": ("p_pct", *_PCT), "r": ("r_pct", *_PCT),
    "1-h": ("one_minus_h_pct", *_PCT), "1-k": ("one_minus_k_pct", *_PCT),
}
_SLOT_KEYS: dict[str, tuple[str, Parser, str]] = {
    "min": ("min_us", *_TIME), "max": ("max_us", *_TIME),
    "packets": ("packets", *_INT_PACKETS),
    "bytes": ("bytes", units.parse_size_b, units.SIZE_ALLOWED),
}


def _parse_block(raw: object, table: Mapping[str, tuple[str, Parser, str]], source: str,
                 path: str, required: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ProfileError(source, path, raw, f"a mapping with keys {', '.join(table)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in table:
            raise ProfileError(source, f"{path}.{key}", value, f"unknown key; allowed: {', '.join(table)}")
        attr, parse, allowed = table[key]
        parsed = parse(value)
        if parsed is None:
            raise ProfileError(source, f"{path}.{key}", value, allowed)
        values[attr] = parsed
    if required not in raw:
        raise ProfileError(source, f"{path}.{required}", None, f"required; {table[required][2]}")
    return values


def _parse_gemodel(raw: object, source: str, path: str) -> GeModel:
    return GeModel(**_parse_block(raw, _GEMODEL_KEYS, source, path, "p"))


def _parse_slot(raw: object, source: str, path: str) -> Slot:
    return Slot(**_parse_block(raw, _SLOT_KEYS, source, path, "min"))


def _parse_trace(raw: object, source: str, path: str) -> TraceRef:
    """`trace: FILE` or `trace: {file, window, loop}` (the file's content is checked by netem.traces)."""
    if not isinstance(raw, str | Mapping):
        raise ProfileError(source, path, raw, "a file name, or a mapping with file, window, loop")
    block = ProfileError.check_top({"file": raw} if isinstance(raw, str) else raw, TRACE_KEYS, source, path)
    name = block.get("file")
    if not isinstance(name, str) or not name.strip():
        raise ProfileError(source, f"{path}.file", name, "the trace file, relative to the profile")
    low, default, high = TRACE_WINDOW_MS
    window_ms = default
    if "window" in block:
        micros = units.parse_time_us(block["window"])
        if micros is None or micros % 1000 or not low <= micros // 1000 <= high:
            raise ProfileError(source, f"{path}.window", block["window"],
                               f"whole milliseconds from {low}ms to {high}ms (Mahimahi traces only)")
        window_ms = micros // 1000
    loop = block.get("loop")
    if loop is not None and not isinstance(loop, bool):
        raise ProfileError(source, f"{path}.loop", loop, "true or false")
    return TraceRef(name, window_ms, loop)


NETEM, ANY = "netem", "netem|tbf"  # the qdisc a field needs: netem only, or tbf too (rate shaping)
Argv = Callable[[Any], list[str]]  # a field's value → its words in `tc qdisc … netem …`


@dataclass(frozen=True)
class Needs:
    """A cross-field rule: this field is only valid when `key` is set (`nonzero`: set and not 0)."""

    key: str
    message: str  # iproute2's words where it has them
    nonzero: bool = False


@dataclass(frozen=True)
class Field:
    """One profile key: its Impairment attribute, parser, what is allowed, the qdisc it needs, the field
    it needs, and its netem argv fragment (in table order; None: not a netem word of its own)."""

    attr: str
    parse: Parser
    allowed: str
    qdisc: str  # NETEM: only netem does it; ANY: a rate-only end uses tbf, which works without sch_netem
    argv: Argv | None
    needs: Needs | None = None


def _word(keyword: str, fmt: Callable[[Any], str]) -> Argv:
    return lambda value: [keyword, fmt(value)]


def _bare(fmt: Callable[[Any], str]) -> Argv:
    """A positional value after the field it needs (`delay 40ms 5ms 25%`, `loss random 1% 25%`)."""
    return lambda value: [fmt(value)]


def _gemodel_argv(ge: GeModel) -> list[str]:
    values = (ge.p_pct, ge.r_pct, ge.one_minus_h_pct, ge.one_minus_k_pct)
    return ["loss", "gemodel", *(format_percent(v) for v in values if v is not None)]


def _slot_argv(slot: Slot) -> list[str]:
    args = ["slot", format_time(slot.min_us)]
    if slot.max_us is not None:
        args.append(format_time(slot.max_us))
    if slot.packets is not None:
        args += ["packets", str(slot.packets)]
    if slot.bytes is not None:
        args += ["bytes", str(slot.bytes)]
    return args


def _correlation_of(key: str) -> Field:
    return Field(f"{key}_correlation_pct", *_PCT, NETEM, _bare(format_percent),
                 Needs(key, f"{key}_correlation needs {key}"))


# profile key → its row; the one table: parsing, the schema's order, the qdisc kind, the cross-field rules
# and the netem argv (in this order, after `limit`, which tc.netem_args always puts first) come from here
FIELDS: dict[str, Field] = {
    "delay": Field("delay_us", *_TIME, NETEM, _word("delay", format_time)),
    "jitter": Field("jitter_us", *_TIME, NETEM, _bare(format_time),
                    Needs("delay", "jitter needs delay (tc syntax: delay TIME JITTER)")),
    "correlation": Field("correlation_pct", *_PCT, NETEM, _bare(format_percent),
                         Needs("jitter", "delay correlation needs jitter "
                                         "(tc syntax: delay TIME JITTER CORR)")),
    "distribution": Field("distribution", _choice,
                          f"one of {', '.join(DISTRIBUTIONS)}, or a table file NAME{DIST_SUFFIX} beside the "
                          "profile (iproute2's maketable format)", NETEM, _distribution_argv,
                          Needs("jitter", "distribution needs delay and jitter (iproute2: distribution "
                                          "specified but no latency and jitter)")),
    "loss": Field("loss_pct", *_PCT, NETEM, lambda pct: ["loss", "random", format_percent(pct)]),
    "loss_correlation": _correlation_of("loss"),
    "gemodel": Field("gemodel", lambda v: v, "a mapping p, r, 1-h, 1-k of percentages", NETEM, _gemodel_argv),
    "duplicate": Field("duplicate_pct", *_PCT, NETEM, _word("duplicate", format_percent)),
    "duplicate_correlation": _correlation_of("duplicate"),
    "corrupt": Field("corrupt_pct", *_PCT, NETEM, _word("corrupt", format_percent)),
    "corrupt_correlation": _correlation_of("corrupt"),
    "reorder": Field("reorder_pct", *_PCT, NETEM, _word("reorder", format_percent),
                     Needs("delay", "reorder needs a delay > 0 (iproute2: reordering not possible without "
                                    "specifying some delay)", nonzero=True)),
    "reorder_correlation": _correlation_of("reorder"),
    "gap": Field("gap", *_INT_PACKETS, NETEM, _word("gap", str),
                 Needs("reorder", "gap needs reorder (iproute2: gap specified without reorder probability)")),
    "rate": Field("rate_bps", units.parse_rate_bps, units.RATE_ALLOWED, ANY, _word("rate", format_rate)),
    "packet_overhead": Field("packet_overhead", _int_in(-1500, 65535), "bytes per packet, -1500..65535", ANY,
                             _bare(str), Needs("rate", "packet_overhead needs rate")),
    "limit": Field("limit", _int_in(1, 2**31 - 1), "a queue length in packets >= 1", ANY, None),
    "slot": Field("slot", lambda v: v, "a mapping min, max, packets, bytes", NETEM, _slot_argv),
    # the queue where the rate is limited: its own qdisc under the tbf that shapes (tc.end_argvs); the
    # tree's root is netem even without a netem field (netem.core.queue says why)
    "queue": Field("queue", lambda v: v, queue_module.ALLOWED, NETEM, None,
                   Needs("rate", "queue needs rate: the queue is the rate limiter's child and only fills "
                                 "where the rate is limited")),
    # replayed by the netem agent through netlink from the trace file (netem.traces), no tc word of its own
    "trace": Field("trace", lambda v: v, "a trace file (Mahimahi or CSV), or a mapping file, window, loop",
                   NETEM, None),
}
_STRUCTURED: dict[str, Callable[[object, str, str], Any]] = {
    "gemodel": _parse_gemodel, "slot": _parse_slot, "trace": _parse_trace, "queue": queue_module.parse_queue}


def parse_impairment(raw: Mapping[str, object], source: str, path: str) -> Impairment:
    """Parse the field keys of `raw` (callers strip `up`/`down` first)."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in FIELDS:
            raise ProfileError(source, f"{path}.{key}", value,
                               f"unknown key; allowed: {', '.join(FIELDS)}")
        row = FIELDS[key]
        if key in _STRUCTURED:
            values[row.attr] = _STRUCTURED[key](value, source, f"{path}.{key}")
        else:
            parsed = row.parse(value)
            if parsed is None:
                raise ProfileError(source, f"{path}.{key}", value, row.allowed)
            values[row.attr] = parsed
    return Impairment(**values)
