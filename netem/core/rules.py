"""iproute2's cross-field rules (q_netem.c), checked before anything is applied.

The rules that join two fields ("jitter needs delay") are `Needs` in each field's row of `fields.FIELDS`;
the ones here join more (exclusive fields, the Gilbert-Elliott chain, what a tbf end can carry). An end's
qdisc kind is `Impairment.kind`: `netem` when it sets any field whose row says netem, `tbf` for a
rate-only end (rate, packet_overhead, limit), which works without sch_netem.
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


def _unmet_needs(imp: Impairment) -> list[Violation]:
    """Each set field whose row `needs` another that is unset (or 0, where the row says nonzero)."""
    found = []
    for key, row in FIELDS.items():
        value = getattr(imp, row.attr)
        if row.needs is None or value is None:
            continue
        have = getattr(imp, FIELDS[row.needs.key].attr)
        if have is None or (row.needs.nonzero and not have):
            found.append(Violation(key, value, row.needs.message))
    return found


def violations(imp: Impairment) -> list[Violation]:
    """Every cross-field rule `imp` breaks (empty list = valid)."""
    found = _unmet_needs(imp)
    if imp.loss_pct is not None and imp.gemodel is not None:
        found.append(Violation("gemodel", "set", "loss (random) and gemodel are exclusive: pick one"))
    ge = imp.gemodel
    if ge and ge.one_minus_h_pct is not None and ge.r_pct is None:
        found.append(Violation("gemodel.1-h", ge.one_minus_h_pct, "1-h needs r (tc: gemodel p r 1-h 1-k)"))
    if ge and ge.one_minus_k_pct is not None and ge.one_minus_h_pct is None:
        found.append(Violation("gemodel.1-k", ge.one_minus_k_pct, "1-k needs 1-h (tc: gemodel p r 1-h 1-k)"))
    if imp.slot and imp.slot.max_us is not None and imp.slot.max_us < imp.slot.min_us:
        found.append(Violation("slot.max", imp.slot.max_us, "slot max must be >= slot min"))
    if imp.kind == "tbf" and imp.rate_bps is None:
        found.append(Violation("limit", imp.limit, "limit alone shapes nothing: add rate or a netem field"))
    if (imp.kind == "tbf" or imp.queue is not None) and (imp.packet_overhead or 0) < 0:
        found.append(Violation("packet_overhead", imp.packet_overhead,
                               "a rate-only link or a queue uses tbf, whose overhead is 0-65535 bytes"))
    if imp.queue is not None and imp.limit is not None:
        found.append(Violation("limit", imp.limit,
                               "with queue, give the queue its own limit (queue: {kind: pfifo, limit: N}); "
                               "limit would size netem's delay line instead"))
    if imp.queue is not None and imp.trace is not None:
        found.append(Violation("queue", imp.queue.kind,
                               "a traced end is changed through netlink on its one netem qdisc; queue puts "
                               "the rate on a tbf under netem: not together"))
    return found
