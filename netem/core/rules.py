"""iproute2's cross-field rules (q_netem.c), checked before anything is applied, and the qdisc kind.

A resolved link end needs `netem` when it sets any field whose row in `fields.FIELDS` says `netem`; a
rate-only end (rate, packet_overhead, limit) is shaped with `tbf`, which works without sch_netem.
"""

from __future__ import annotations

from dataclasses import dataclass

from netem.core.fields import FIELDS, NETEM, Impairment

# the keys a rate-only end (tbf) can carry: every row of fields.FIELDS that does not need netem
RATE_ONLY_KEYS = tuple(key for key, field in FIELDS.items() if field.qdisc != NETEM)


@dataclass(frozen=True)
class Violation:
    key: str
    value: object
    message: str


# (key that is set, key it needs, iproute2's words or ours)
_NEEDS: tuple[tuple[str, str, str], ...] = (
    ("jitter", "delay_us", "jitter needs delay (tc syntax: delay TIME JITTER)"),
    ("correlation", "jitter_us", "delay correlation needs jitter (tc syntax: delay TIME JITTER CORR)"),
    ("distribution", "jitter_us",
     "distribution needs delay and jitter (iproute2: distribution specified but no latency and jitter)"),
    ("loss_correlation", "loss_pct", "loss_correlation needs loss"),
    ("duplicate_correlation", "duplicate_pct", "duplicate_correlation needs duplicate"),
    ("corrupt_correlation", "corrupt_pct", "corrupt_correlation needs corrupt"),
    ("reorder_correlation", "reorder_pct", "reorder_correlation needs reorder"),
    ("gap", "reorder_pct", "gap needs reorder (iproute2: gap specified without reorder probability)"),
    ("packet_overhead", "rate_bps", "packet_overhead needs rate"),
    ("queue", "rate_bps", "queue needs rate: the queue is the rate limiter's child and only fills where "
                          "the rate is limited"),
)


def violations(imp: Impairment) -> list[Violation]:
    """Every cross-field rule `imp` breaks (empty list = valid)."""
    found: list[Violation] = []
    attrs = {"jitter": imp.jitter_us, "correlation": imp.correlation_pct,
             "distribution": imp.distribution, "loss_correlation": imp.loss_correlation_pct,
             "duplicate_correlation": imp.duplicate_correlation_pct,
             "corrupt_correlation": imp.corrupt_correlation_pct,
             "reorder_correlation": imp.reorder_correlation_pct, "gap": imp.gap,
             "packet_overhead": imp.packet_overhead, "queue": imp.queue.kind if imp.queue else None}
    for key, needed, message in _NEEDS:
        if attrs[key] is not None and getattr(imp, needed) is None:
            found.append(Violation(key, attrs[key], message))
    if imp.reorder_pct is not None and not imp.delay_us:
        found.append(Violation("reorder", imp.reorder_pct,
                               "reorder needs a delay > 0 (iproute2: reordering not possible "
                               "without specifying some delay)"))
    if imp.loss_pct is not None and imp.gemodel is not None:
        found.append(Violation("gemodel", "set", "loss (random) and gemodel are exclusive: pick one"))
    ge = imp.gemodel
    if ge and ge.one_minus_h_pct is not None and ge.r_pct is None:
        found.append(Violation("gemodel.1-h", ge.one_minus_h_pct, "1-h needs r (tc: gemodel p r 1-h 1-k)"))
    if ge and ge.one_minus_k_pct is not None and ge.one_minus_h_pct is None:
        found.append(Violation("gemodel.1-k", ge.one_minus_k_pct, "1-k needs 1-h (tc: gemodel p r 1-h 1-k)"))
    if imp.queue is not None and imp.limit is not None:
        found.append(Violation("limit", imp.limit,
                               "with queue, give the queue its own limit (queue: {kind: pfifo, limit: N}); "
                               "limit would size netem's delay line instead"))
    if imp.slot and imp.slot.max_us is not None and imp.slot.max_us < imp.slot.min_us:
        found.append(Violation("slot.max", imp.slot.max_us, "slot max must be >= slot min"))
    if qdisc_kind(imp) == "tbf" and imp.rate_bps is None:
        found.append(Violation("limit", imp.limit, "limit alone shapes nothing: add rate or a netem field"))
    if (qdisc_kind(imp) == "tbf" or imp.queue is not None) and (imp.packet_overhead or 0) < 0:
        found.append(Violation("packet_overhead", imp.packet_overhead,
                               "a rate-only link or a queue uses tbf, whose overhead is 0-65535 bytes"))
    return found


def netem_keys(imp: Impairment) -> list[str]:
    """The keys `imp` sets that only netem can do (each field's row in fields.FIELDS says)."""
    return [key for key in imp.set_keys() if FIELDS[key].qdisc == NETEM]


def layout(imp: Impairment) -> str | None:
    """The qdisc tree of an end: `netem`, `tbf`, `netem>tbf>fq_codel` (with a queue), or None.

    A profile step may not change it: `tc qdisc change` cannot switch a qdisc's kind.
    """
    kind = qdisc_kind(imp)
    return f"{kind}>tbf>{imp.queue.kind}" if kind and imp.queue is not None else kind


def qdisc_kind(imp: Impairment) -> str | None:
    """`netem`, `tbf`, or None for an unimpaired end (the interface keeps its default qdisc)."""
    if imp.is_empty():
        return None
    return "netem" if netem_keys(imp) else "tbf"
