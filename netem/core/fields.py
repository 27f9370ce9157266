"""One link end's impairment settings (the tc-netem fields) and their per-field parsing.

A settings block is a mapping of field → value with units. Unknown keys are errors that list the
allowed ones; every value is checked here, cross-field rules live in `rules.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from netem.core import queue as queue_module
from netem.core import units
from netem.core.errors import ProfileError
from netem.core.queue import Queue

DISTRIBUTIONS = ("normal", "pareto", "paretonormal", "uniform")


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

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def set_keys(self) -> list[str]:
        """Profile keys (not attribute names) that are set, in schema order."""
        return [key for key, field in FIELDS.items() if getattr(self, field.attr) is not None]


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
    return value if isinstance(value, str) and value in DISTRIBUTIONS else None


_PCT = (units.parse_percent, units.PERCENT_ALLOWED)
_TIME = (units.parse_time_us, units.TIME_ALLOWED)

_GEMODEL_KEYS: dict[str, tuple[str, Parser, str]] = {
    "p": ("p_pct", *_PCT), "r": ("r_pct", *_PCT),
    "1-h": ("one_minus_h_pct", *_PCT), "1-k": ("one_minus_k_pct", *_PCT),
}
_SLOT_KEYS: dict[str, tuple[str, Parser, str]] = {
    "min": ("min_us", *_TIME), "max": ("max_us", *_TIME),
    "packets": ("packets", _int_in(1, 2**31 - 1), "a whole number of packets >= 1"),
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


NETEM, ANY = "netem", "netem|tbf"  # the qdisc a field needs: netem only, or tbf too (rate shaping)


@dataclass(frozen=True)
class Field:
    """One profile key: its Impairment attribute, parser, what is allowed, and the qdisc it needs."""

    attr: str
    parse: Parser
    allowed: str
    qdisc: str  # NETEM: only netem does it; ANY: a rate-only end uses tbf, which works without sch_netem


_INT_PACKETS = (_int_in(1, 2**31 - 1), "a whole number of packets >= 1")
# profile key → its row; the one table: parsing, the schema's order and the qdisc kind come from here
FIELDS: dict[str, Field] = {
    "delay": Field("delay_us", *_TIME, NETEM),
    "jitter": Field("jitter_us", *_TIME, NETEM),
    "correlation": Field("correlation_pct", *_PCT, NETEM),
    "distribution": Field("distribution", _choice, f"one of {', '.join(DISTRIBUTIONS)}", NETEM),
    "loss": Field("loss_pct", *_PCT, NETEM),
    "loss_correlation": Field("loss_correlation_pct", *_PCT, NETEM),
    "gemodel": Field("gemodel", lambda v: v, "a mapping p, r, 1-h, 1-k of percentages", NETEM),
    "duplicate": Field("duplicate_pct", *_PCT, NETEM),
    "duplicate_correlation": Field("duplicate_correlation_pct", *_PCT, NETEM),
    "corrupt": Field("corrupt_pct", *_PCT, NETEM),
    "corrupt_correlation": Field("corrupt_correlation_pct", *_PCT, NETEM),
    "reorder": Field("reorder_pct", *_PCT, NETEM),
    "reorder_correlation": Field("reorder_correlation_pct", *_PCT, NETEM),
    "gap": Field("gap", *_INT_PACKETS, NETEM),
    "rate": Field("rate_bps", units.parse_rate_bps, units.RATE_ALLOWED, ANY),
    "packet_overhead": Field("packet_overhead", _int_in(-1500, 65535), "bytes per packet, -1500..65535", ANY),
    "limit": Field("limit", _int_in(1, 2**31 - 1), "a queue length in packets >= 1", ANY),
    "slot": Field("slot", lambda v: v, "a mapping min, max, packets, bytes", NETEM),
    # the queue where the rate is limited; its tree has a netem root (netem.core.queue says why)
    "queue": Field("queue", lambda v: v, queue_module.ALLOWED, NETEM),
}


def parse_impairment(raw: Mapping[str, object], source: str, path: str) -> Impairment:
    """Parse the field keys of `raw` (callers strip `up`/`down` first)."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in FIELDS:
            raise ProfileError(source, f"{path}.{key}", value,
                               f"unknown key; allowed: {', '.join(FIELDS)}")
        row = FIELDS[key]
        if key == "gemodel":
            values[row.attr] = _parse_gemodel(value, source, f"{path}.{key}")
        elif key == "slot":
            values[row.attr] = _parse_slot(value, source, f"{path}.{key}")
        elif key == "queue":
            values[row.attr] = queue_module.parse_queue(value, source, f"{path}.{key}")
        else:
            parsed = row.parse(value)
            if parsed is None:
                raise ProfileError(source, f"{path}.{key}", value, row.allowed)
            values[row.attr] = parsed
    return Impairment(**values)
