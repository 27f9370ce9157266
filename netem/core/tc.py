"""The one profile → tc argv builder. Pure: returns argv lists, never runs anything.

A netem end becomes `tc qdisc replace dev IF root handle 1: netem …` (rate via netem's own `rate`),
a rate-only end becomes `… tbf rate R burst B limit L`, so rate limits work without sch_netem.
An end with a `queue:` becomes a tree, netem → tbf (the rate) → the queue (`netem.core.queue`), after
`ip link set dev IF gso_max_segs 1` (one wire packet per queued packet).
Steps reuse the same arguments with `change`, which keeps the qdiscs and their counters.
"""

from __future__ import annotations

import math

from netem.core import rules
from netem.core.fields import Impairment
from netem.core.queue import queue_args
from netem.core.units import format_percent, format_rate, format_time

MTU_FRAME_B = 1514
NETEM_DEFAULT_LIMIT = 1000
ASSUMED_LINE_RATE_BPS = 1_000_000_000  # what may arrive at an unshaped veth (for the default limit)
TBF_QUEUE_S = 0.05  # default tbf queue: 50 ms at the shaped rate
TBF_BURST_S = 0.004  # burst: 4 ms at the shaped rate, at least 10 full frames


QUEUE_PARENT, SHAPER_PARENT = "1:1", "2:1"  # the tbf's and the queue's parents in a queue tree
GSO_MAX_SEGS_DEFAULT = 65535  # the kernel's GSO_MAX_SEGS: what an interface has unless lowered


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
    kind = rules.qdisc_kind(imp)
    if kind is None:
        return clear_argv(dev)
    args = netem_args(imp) if kind == "netem" else tbf_args(imp)
    return ["tc", "qdisc", verb, "dev", dev, "root", "handle", "1:", kind, *args]


def default_limit_packets(imp: Impairment) -> int:
    """netem queue long enough for rate × (delay + 4·jitter + slot), twice over, at least 1000."""
    rate = imp.rate_bps or ASSUMED_LINE_RATE_BPS
    hold_us = (imp.delay_us or 0) + 4 * (imp.jitter_us or 0)
    if imp.slot:
        hold_us += imp.slot.max_us or imp.slot.min_us
    packets = math.ceil(2 * rate * hold_us / 1e6 / (8 * MTU_FRAME_B))
    return max(NETEM_DEFAULT_LIMIT, packets)


def _with_corr(keyword: str, pct: float | None, corr: float | None) -> list[str]:
    if pct is None:
        return []
    return [keyword, format_percent(pct)] + ([format_percent(corr)] if corr is not None else [])


def _delay_args(imp: Impairment) -> list[str]:
    if imp.delay_us is None:
        return []
    args = ["delay", format_time(imp.delay_us)]
    if imp.jitter_us is not None:
        args.append(format_time(imp.jitter_us))
        if imp.correlation_pct is not None:
            args.append(format_percent(imp.correlation_pct))
    if imp.distribution is not None:
        args += ["distribution", imp.distribution]
    return args


def _loss_args(imp: Impairment) -> list[str]:
    if imp.gemodel is not None:
        ge = imp.gemodel
        values = [ge.p_pct, ge.r_pct, ge.one_minus_h_pct, ge.one_minus_k_pct]
        return ["loss", "gemodel", *(format_percent(v) for v in values if v is not None)]
    if imp.loss_pct is None:
        return []
    return ["loss", "random", *_with_corr("loss", imp.loss_pct, imp.loss_correlation_pct)[1:]]


def _rate_slot_args(imp: Impairment) -> list[str]:
    args: list[str] = []
    if imp.rate_bps is not None:
        args += ["rate", format_rate(imp.rate_bps)]
        if imp.packet_overhead is not None:
            args.append(str(imp.packet_overhead))
    if imp.slot is not None:
        slot = imp.slot
        args += ["slot", format_time(slot.min_us)]
        if slot.max_us is not None:
            args.append(format_time(slot.max_us))
        if slot.packets is not None:
            args += ["packets", str(slot.packets)]
        if slot.bytes is not None:
            args += ["bytes", str(slot.bytes)]
    return args


def netem_args(imp: Impairment, with_rate: bool = True) -> list[str]:
    """netem's arguments; without the rate when a tbf below it shapes (a queue tree)."""
    args = ["limit", str(imp.limit or default_limit_packets(imp))]
    args += _delay_args(imp) + _loss_args(imp)
    args += _with_corr("duplicate", imp.duplicate_pct, imp.duplicate_correlation_pct)
    args += _with_corr("corrupt", imp.corrupt_pct, imp.corrupt_correlation_pct)
    args += _with_corr("reorder", imp.reorder_pct, imp.reorder_correlation_pct)
    if imp.gap is not None:
        args += ["gap", str(imp.gap)]
    slot_only = Impairment(slot=imp.slot)
    return args + _rate_slot_args(imp if with_rate else slot_only)


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
