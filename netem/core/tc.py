"""The one profile → tc argv builder. Pure: returns argv lists, never runs anything.

A netem end becomes `tc qdisc replace dev IF root handle 1: netem …` (rate via netem's own `rate`),
a rate-only end becomes `… tbf rate R burst B limit L`, so rate limits work without sch_netem.
Steps reuse the same arguments with `change`, which keeps the qdisc and its counters.
"""

from __future__ import annotations

import math

from netem.core.fields import FIELDS, Impairment
from netem.core.units import format_rate

MTU_FRAME_B = 1514
NETEM_DEFAULT_LIMIT = 1000
ASSUMED_LINE_RATE_BPS = 1_000_000_000  # what may arrive at an unshaped veth (for the default limit)
TBF_QUEUE_S = 0.05  # default tbf queue: 50 ms at the shaped rate
TBF_BURST_S = 0.004  # burst: 4 ms at the shaped rate, at least 10 full frames


def show_argv(dev: str) -> list[str]:
    return ["tc", "-s", "-j", "qdisc", "show", "dev", dev]


def clear_argv(dev: str) -> list[str]:
    return ["tc", "qdisc", "del", "dev", dev, "root"]


def qdisc_argv(dev: str, imp: Impairment, verb: str = "replace") -> list[str]:
    """`replace` (apply) or `change` (a step) the root qdisc of `dev`; empty settings → `clear_argv`."""
    if imp.kind is None:
        return clear_argv(dev)
    args = netem_args(imp) if imp.kind == "netem" else tbf_args(imp)
    return ["tc", "qdisc", verb, "dev", dev, "root", "handle", "1:", imp.kind, *args]


def default_limit_packets(imp: Impairment) -> int:
    """netem queue long enough for rate × (delay + 4·jitter + slot), twice over, at least 1000."""
    rate = imp.rate_bps or ASSUMED_LINE_RATE_BPS
    hold_us = (imp.delay_us or 0) + 4 * (imp.jitter_us or 0)
    if imp.slot:
        hold_us += imp.slot.max_us or imp.slot.min_us
    packets = math.ceil(2 * rate * hold_us / 1e6 / (8 * MTU_FRAME_B))
    return max(NETEM_DEFAULT_LIMIT, packets)


def netem_args(imp: Impairment) -> list[str]:
    """`limit` first (with the default queue when unset), then each set field's words in table order."""
    args = ["limit", str(imp.limit or default_limit_packets(imp))]
    for row in FIELDS.values():
        value = getattr(imp, row.attr)
        if value is not None and row.argv is not None:
            args += row.argv(value)
    return args


def tbf_burst_bytes(rate_bps: int) -> int:
    return max(10 * MTU_FRAME_B, math.ceil(rate_bps / 8 * TBF_BURST_S))


def tbf_limit_bytes(imp: Impairment) -> int:
    """Queue in bytes: `limit` packets of full frames, or 50 ms at the rate (plus one burst)."""
    rate = imp.rate_bps or ASSUMED_LINE_RATE_BPS
    if imp.limit is not None:
        return imp.limit * MTU_FRAME_B
    return tbf_burst_bytes(rate) + math.ceil(rate / 8 * TBF_QUEUE_S)


def tbf_args(imp: Impairment) -> list[str]:
    rate = imp.rate_bps or ASSUMED_LINE_RATE_BPS
    args = ["rate", format_rate(rate), "burst", str(tbf_burst_bytes(rate)),
            "limit", str(tbf_limit_bytes(imp))]
    if imp.packet_overhead:
        args += ["overhead", str(imp.packet_overhead)]
    return args


def restore_argv(dev: str, kind: str, options: dict[str, object]) -> list[str] | None:
    """Put back a root qdisc seen by `tc -j qdisc show`: default kinds by deleting ours, tbf rebuilt
    from its options; None when it cannot be rebuilt exactly (netem and others)."""
    from netem.core.tc_show import DEFAULT_ROOT_KINDS

    if kind in DEFAULT_ROOT_KINDS:
        return clear_argv(dev)
    if kind == "tbf" and {"rate", "burst", "lat"} <= options.keys():
        args = ["rate", f"{int(str(options['rate'])) * 8}bit", "burst", str(options["burst"]),
                "latency", f"{options['lat']}us"]
        if options.get("overhead"):
            args += ["overhead", str(options["overhead"])]
        return ["tc", "qdisc", "replace", "dev", dev, "root", "handle", "1:", "tbf", *args]
    return None
