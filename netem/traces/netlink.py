"""netem's netlink options (the TCA_OPTIONS of a `netem` qdisc), built from the same settings as `tc.py`.

Pure: bytes out, nothing sent. With `restate=False` the bytes are exactly what iproute2's tc sends for
`tc.qdisc_argv` of the same settings (checked against tc itself, tests/integration/netem). A replayed
change uses `restate=True`: the kernel's `netem_change` keeps every optional attribute a message leaves out
(correlations, reorder, corrupt, rate, slot) and resets the loss model to random unless it is sent, so
each change states the whole setting, zeros included, and never inherits the previous one by accident.
Layout (include/uapi/linux/pkt_sched.h): struct tc_netem_qopt, then attributes in tc's order.

Also the other way: a dump of every qdisc's queue counters (`qdisc_dump_message`, `parse_qdisc_dump`),
what `tc -s qdisc show` reads, for sampling a queue's backlog many times a second without a process each.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from netem.core import tc
from netem.core.fields import Impairment

TCA_NETEM_CORR, TCA_NETEM_DELAY_DIST, TCA_NETEM_REORDER, TCA_NETEM_CORRUPT = 1, 2, 3, 4
TCA_NETEM_LOSS, TCA_NETEM_RATE, TCA_NETEM_RATE64, TCA_NETEM_SLOT = 5, 6, 8, 12
NETEM_LOSS_GE = 2
NLA_F_NESTED = 0x8000
U32_MAX = 0xFFFFFFFF
PSCHED_SHIFT = 6  # kernel: one psched tick is 64 ns (PSCHED_TICKS2NS)


def percent_u32(pct: float | None) -> int:
    """iproute2's set_percent: rint(fraction × UINT32_MAX), halves to even as rint does."""
    return round((pct or 0.0) / 100 * U32_MAX)


def ticks(micros: int | None) -> int:
    return min(((micros or 0) * 1000) >> PSCHED_SHIFT, U32_MAX)


def attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute: length, type, payload, padded to 4 bytes."""
    header = struct.pack("=HH", 4 + len(payload), kind)
    return header + payload + b"\0" * (-len(payload) % 4)


def _corr(imp: Impairment) -> bytes:
    return struct.pack("=III", percent_u32(imp.correlation_pct), percent_u32(imp.loss_correlation_pct),
                       percent_u32(imp.duplicate_correlation_pct))


def _loss(imp: Impairment) -> bytes:
    ge = imp.gemodel
    if ge is None:
        return b""
    r = ge.r_pct if ge.r_pct is not None else 100.0 - ge.p_pct  # tc's default
    one_minus_h = ge.one_minus_h_pct if ge.one_minus_h_pct is not None else 100.0
    model = struct.pack("=IIII", percent_u32(ge.p_pct), percent_u32(r), percent_u32(100.0 - one_minus_h),
                        percent_u32(ge.one_minus_k_pct))
    return attr(TCA_NETEM_LOSS | NLA_F_NESTED, attr(NETEM_LOSS_GE, model))


def _rate(imp: Impairment, restate: bool) -> bytes:
    if imp.rate_bps is None and not restate:
        return b""
    bytes_per_s = (imp.rate_bps or 0) // 8
    out = attr(TCA_NETEM_RATE64, struct.pack("=Q", bytes_per_s)) if bytes_per_s > U32_MAX else b""
    return out + attr(TCA_NETEM_RATE, struct.pack("=IiIi", min(bytes_per_s, U32_MAX),
                                                  imp.packet_overhead or 0, 0, 0))


def _slot(imp: Impairment, restate: bool) -> bytes:
    slot = imp.slot
    if slot is None:
        return attr(TCA_NETEM_SLOT, struct.pack("=qqiiqq", 0, 0, 0, 0, 0, 0)) if restate else b""
    max_us = slot.max_us if slot.max_us is not None else slot.min_us
    return attr(TCA_NETEM_SLOT, struct.pack("=qqiiqq", slot.min_us * 1000, max_us * 1000, slot.packets or 0,
                                            slot.bytes or 0, 0, 0))


def netem_options(imp: Impairment, restate: bool = False, dist: Sequence[int] | None = None) -> bytes:
    """The TCA_OPTIONS payload of a netem qdisc with these settings (see the module doc)."""
    gap = imp.gap if imp.gap is not None else (1 if imp.reorder_pct else 0)
    qopt = struct.pack("=IIIIII", ticks(imp.delay_us), imp.limit or tc.default_limit_packets(imp),
                       percent_u32(imp.loss_pct), gap, percent_u32(imp.duplicate_pct), ticks(imp.jitter_us))
    out = qopt
    correlated = (imp.correlation_pct, imp.loss_correlation_pct, imp.duplicate_correlation_pct)
    if restate or any(c is not None for c in correlated):
        out += attr(TCA_NETEM_CORR, _corr(imp))
    if restate or imp.reorder_pct:
        out += attr(TCA_NETEM_REORDER, struct.pack("=II", percent_u32(imp.reorder_pct),
                                                   percent_u32(imp.reorder_correlation_pct)))
    if restate or imp.corrupt_pct:
        out += attr(TCA_NETEM_CORRUPT, struct.pack("=II", percent_u32(imp.corrupt_pct),
                                                   percent_u32(imp.corrupt_correlation_pct)))
    out += _slot(imp, restate) + _loss(imp) + _rate(imp, restate)
    if dist:
        out += attr(TCA_NETEM_DELAY_DIST, struct.pack(f"={len(dist)}h", *dist))
    return out


# The message around the options: nlmsghdr + struct tcmsg + TCA_KIND + TCA_OPTIONS (rtnetlink(7)).
RTM_NEWQDISC = 36
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_CREATE = 0x1, 0x4, 0x100, 0x400
NLM_F_ACK_TLVS = 0x200  # in an ack: extended ack attributes follow
NLMSGERR_ATTR_MSG = 1
TC_H_ROOT = 0xFFFFFFFF
ROOT_HANDLE = 0x10000  # "1:"
TCA_KIND, TCA_OPTIONS = 1, 2
VERB_FLAGS = {"change": NLM_F_REQUEST | NLM_F_ACK,
              "replace": NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE}


def qdisc_message(seq: int, index: int, options: bytes, *, verb: str = "change", kind: str = "netem",
                  handle: int = ROOT_HANDLE, parent: int = TC_H_ROOT) -> bytes:
    """An RTM_NEWQDISC request, as `tc qdisc change|replace dev … parent P handle H KIND …` sends it."""
    body = struct.pack("=BBHiIII", 0, 0, 0, index, handle, parent, 0)
    body += attr(TCA_KIND, kind.encode() + b"\0") + attr(TCA_OPTIONS, options)
    return struct.pack("=IHHII", 16 + len(body), RTM_NEWQDISC, VERB_FLAGS[verb], seq, 0) + body


def parse_ack(data: bytes, seq: int) -> tuple[int, str] | None:
    """(errno, the kernel's message) of the ack for `seq` in `data`; errno 0 = done. None: not in data."""
    offset = 0
    while offset + 16 <= len(data):
        length, kind, flags, got_seq, _ = struct.unpack_from("=IHHII", data, offset)
        if length < 16:
            break
        if kind == NLMSG_ERROR and got_seq == seq:
            error = -struct.unpack_from("=i", data, offset + 16)[0]
            return error, _ack_message(data[offset:offset + length], flags) if error else ""
        offset += (length + 3) & ~3
    return None


def _ack_message(ack: bytes, flags: int) -> str:
    if not flags & NLM_F_ACK_TLVS:
        return ""
    inner_length = struct.unpack_from("=I", ack, 20)[0]
    offset = 20 + (16 if flags & 0x100 else (inner_length + 3) & ~3)  # NLM_F_CAPPED: header only
    while offset + 4 <= len(ack):
        length, kind = struct.unpack_from("=HH", ack, offset)
        if length < 4:
            break
        if kind == NLMSGERR_ATTR_MSG:
            return ack[offset + 4:offset + length].split(b"\0", 1)[0].decode(errors="replace")
        offset += (length + 3) & ~3
    return ""


# A dump of every qdisc with its counters (RTM_GETQDISC; rtnetlink(7), include/uapi/linux/gen_stats.h).
RTM_GETQDISC = 38
NLMSG_DONE = 3
NLM_F_DUMP = 0x300
TCA_STATS2 = 7
TCA_STATS_QUEUE = 3  # struct gnet_stats_queue: qlen, backlog (bytes), drops, requeues, overlimits


class DumpError(ValueError):
    """The kernel answered a dump with an error, or with bytes that are not a qdisc dump."""


@dataclass(frozen=True)
class QueueStats:
    """One qdisc's queue right now, as `tc -s qdisc show` prints it (`handle`/`parent` as 32-bit ids)."""

    ifindex: int
    handle: int
    parent: int
    kind: str
    qlen: int  # packets
    backlog: int  # bytes
    drops: int


def qdisc_dump_message(seq: int) -> bytes:
    """An RTM_GETQDISC dump request: every qdisc of every interface of the namespace."""
    body = struct.pack("=BBHiIII", 0, 0, 0, 0, 0, 0, 0)
    return struct.pack("=IHHII", 16 + len(body), RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def _attrs(data: bytes, start: int, end: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    while start + 4 <= end:
        length, kind = struct.unpack_from("=HH", data, start)
        if length < 4 or start + length > end:
            raise DumpError(f"a netlink attribute runs past its message (length {length})")
        found[kind & ~NLA_F_NESTED] = data[start + 4:start + length]
        start += (length + 3) & ~3
    return found


def _queue_stats(header: bytes, attrs: dict[int, bytes]) -> QueueStats:
    _, _, _, ifindex, handle, parent, _ = struct.unpack_from("=BBHiIII", header)
    stats = _attrs(attrs.get(TCA_STATS2, b""), 0, len(attrs.get(TCA_STATS2, b"")))
    queue = stats.get(TCA_STATS_QUEUE, b"")
    qlen, backlog, drops = struct.unpack_from("=III", queue) if len(queue) >= 12 else (0, 0, 0)
    kind = attrs.get(TCA_KIND, b"").split(b"\0", 1)[0].decode(errors="replace")
    return QueueStats(ifindex, handle, parent, kind, qlen, backlog, drops)


def parse_qdisc_dump(data: bytes, seq: int) -> tuple[list[QueueStats], bool]:
    """The qdiscs in one read of the answer to dump `seq`, and whether it was the last read (NLMSG_DONE).
    Messages of other requests are passed over; an NLMSG_ERROR for `seq` raises DumpError."""
    found: list[QueueStats] = []
    offset = 0
    while offset + 16 <= len(data):
        length, kind, _, got_seq, _ = struct.unpack_from("=IHHII", data, offset)
        if length < 16 or offset + length > len(data):
            raise DumpError(f"a netlink message runs past the read (length {length} at {offset})")
        if got_seq == seq:
            if kind == NLMSG_DONE:
                return found, True
            if kind == NLMSG_ERROR:
                code = -struct.unpack_from("=i", data, offset + 16)[0]
                raise DumpError(f"the kernel refused the qdisc dump (errno {code})")
            if kind == RTM_NEWQDISC and length >= 36:
                found.append(_queue_stats(data[offset + 16:offset + 36], _attrs(data, offset + 36,
                                                                              offset + length)))
        offset += (length + 3) & ~3
    return found, False
