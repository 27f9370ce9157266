"""The one profile → tc argv builder. Pure: returns argv lists, never runs anything.

A netem end becomes `tc qdisc replace dev IF root handle 1: netem …` (rate via netem's own `rate`),
a rate-only end becomes `… tbf rate R burst B limit L`, so rate limits work without sch_netem.
An end with a `queue:` becomes a tree, netem → tbf (the rate) → the queue (`netem.core.queue`), after
`ip link set dev IF gso_max_segs 1` (one wire packet per queued packet).
Steps reuse the same arguments with `change`, which keeps the qdiscs and their counters.
"""

from __future__ import annotations

import math

from netem.core.fields import FIELDS, Impairment
from netem.core.queue import queue_args
from netem.core.units import format_rate

MTU_FRAME_B = 1514
NETEM_DEFAULT_LIMIT = 1000
ASSUMED_LINE_RATE_BPS = 1_000_000_000  # what may arrive at an unshaped veth (for the default limit)
TBF_QUEUE_S = 0.05  # default tbf queue: 50 ms at the shaped rate
TBF_BURST_S = 0.004  # burst: 4 ms at the shaped rate, at least 10 full frames


QUEUE_PARENT, SHAPER_PARENT = "1:1", "2:1"  # the tbf's and the queue's parents in a queue tree
SHAPED_BY_TBF = ("rate", "packet_overhead")  # in a queue tree these go to the tbf, not to netem


def show_argv(dev: str) -> list[str]:
    return ["tc", "-s", "-j", "qdisc", "show", "dev", dev]


def link_show_argv(dev: str) -> list[str]:
    """The interface's details as JSON (gso_max_segs, tso_max_segs)."""
    return ["ip", "-d", "-j", "link", "show", "dev", dev]


def gso_argv(dev: str, segments: int) -> list[str]:
    """At most `segments` wire packets per packet the stack hands the qdisc (1: no GSO super-packets)."""
    return ["ip", "link", "set", "dev", dev, "gso_max_segs", str(segments)]


def end_argvs(dev: str, imp: Impairment, verb: str = "replace") -> list[list[str]]:
    """Every argv that puts `imp` on `dev`, in order: one qdisc, or the queue tree (with its GSO setting)."""
    if imp.queue is None:
        return [qdisc_argv(dev, imp, verb)]
    head = ["tc", "qdisc", verb, "dev", dev]
    tree = [[*head, "root", "handle", "1:", "netem", *netem_args(imp, with_rate=False)],
            [*head, "parent", QUEUE_PARENT, "handle", "2:", "tbf", *tbf_args(imp)],
            [*head, "parent", SHAPER_PARENT, "handle", "3:", imp.queue.kind, *queue_args(imp.queue)]]
    return [gso_argv(dev, 1), *tree] if verb == "replace" else tree


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


def netem_args(imp: Impairment, with_rate: bool = True) -> list[str]:
    """`limit` first (with the default queue when unset), then each set field's words in table order;
    without the rate when a tbf below netem shapes (a queue tree)."""
    args = ["limit", str(imp.limit or default_limit_packets(imp))]
    for key, row in FIELDS.items():
        value = getattr(imp, row.attr)
        if value is not None and row.argv is not None and (with_rate or key not in SHAPED_BY_TBF):
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
