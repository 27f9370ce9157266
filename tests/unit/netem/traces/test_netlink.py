"""The netlink bytes of a replayed change: a full restatement, the table, the envelope, the kernel's ack;
and the queue counters of a qdisc dump.
(Without `restate` the options equal tc's own: tests/integration/netem/test_netlink_bytes.py.)"""

from __future__ import annotations

import struct

import pytest

from netem.core.fields import GeModel, Impairment
from netem.traces import netlink


def attrs(options: bytes) -> dict[int, bytes]:
    found = {}
    offset = 24  # struct tc_netem_qopt
    while offset < len(options):
        length, kind = struct.unpack_from("=HH", options, offset)
        found[kind & 0x7FFF] = options[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return found


def test_a_change_states_every_optional_attribute_so_nothing_old_survives() -> None:
    plain = netlink.netem_options(Impairment(delay_us=20_000))
    full = netlink.netem_options(Impairment(delay_us=20_000), restate=True)
    assert attrs(plain) == {}
    assert attrs(full) == {netlink.TCA_NETEM_CORR: bytes(12), netlink.TCA_NETEM_REORDER: bytes(8),
                           netlink.TCA_NETEM_CORRUPT: bytes(8), netlink.TCA_NETEM_SLOT: bytes(40),
                           netlink.TCA_NETEM_RATE: bytes(16)}


def test_gemodel_is_sent_with_every_change_since_its_absence_means_random_loss() -> None:
    got = attrs(netlink.netem_options(Impairment(delay_us=1, gemodel=GeModel(1.0, 30.0, 80.0, 0.5)), True))
    inner = got[netlink.TCA_NETEM_LOSS]
    assert struct.unpack("=HHIIII", inner) == (20, netlink.NETEM_LOSS_GE, netlink.percent_u32(1.0),
                                                netlink.percent_u32(30.0), netlink.percent_u32(20.0),
                                                netlink.percent_u32(0.5))


def test_qopt_fields_and_the_delay_table() -> None:
    options = netlink.netem_options(Impairment(delay_us=10_000, jitter_us=2_000, loss_pct=1.0, limit=77),
                                    dist=[-5, 0, 7])
    assert struct.unpack_from("=IIIIII", options) == (156_250, 77, netlink.percent_u32(1.0), 0, 0, 31_250)
    assert attrs(options)[netlink.TCA_NETEM_DELAY_DIST] == struct.pack("=3h", -5, 0, 7)
    assert netlink.percent_u32(100.0) == netlink.U32_MAX and netlink.percent_u32(None) == 0


def test_message_envelope() -> None:
    message = netlink.qdisc_message(7, 3, b"OPTS", verb="replace", handle=0x20000, parent=0x10002)
    length, kind, flags, seq, pid = struct.unpack_from("=IHHII", message)
    assert (length, kind, seq, pid) == (len(message), netlink.RTM_NEWQDISC, 7, 0)
    assert flags == netlink.NLM_F_REQUEST | netlink.NLM_F_ACK | netlink.NLM_F_CREATE | netlink.NLM_F_REPLACE
    assert struct.unpack_from("=BBHiIII", message, 16) == (0, 0, 0, 3, 0x20000, 0x10002, 0)
    assert message[36:] == netlink.attr(1, b"netem\0") + netlink.attr(2, b"OPTS")
    change = netlink.qdisc_message(1, 3, b"")
    assert struct.unpack_from("=H", change, 6)[0] == netlink.NLM_F_REQUEST | netlink.NLM_F_ACK


def ack(seq: int, error: int, message: str = "") -> bytes:
    tlvs = netlink.attr(netlink.NLMSGERR_ATTR_MSG, message.encode() + b"\0") if message else b""
    flags = 0x100 | (netlink.NLM_F_ACK_TLVS if message else 0)  # capped: the request's header only
    body = struct.pack("=i", -error) + struct.pack("=IHHII", 60, netlink.RTM_NEWQDISC, 5, seq, 0) + tlvs
    return struct.pack("=IHHII", 16 + len(body), netlink.NLMSG_ERROR, flags, seq, 4242) + body


def test_acks_give_the_kernels_own_message() -> None:
    assert netlink.parse_ack(ack(3, 0), 3) == (0, "")
    assert netlink.parse_ack(ack(3, 2, "Specified qdisc kind is unknown"), 3) == (
        2, "Specified qdisc kind is unknown")
    assert netlink.parse_ack(ack(2, 0) + ack(3, 22), 3) == (22, "")
    assert netlink.parse_ack(ack(2, 0), 3) is None


def dumped(seq: int, ifindex: int, handle: int, parent: int, kind: str, queue: tuple[int, ...]) -> bytes:
    """One RTM_NEWQDISC of a dump answer, laid out as the kernel's tc_fill_qdisc writes it."""
    stats = netlink.attr(1, struct.pack("=QI4x", 12_345, 6)) + netlink.attr(3, struct.pack("=5I", *queue))
    body = struct.pack("=BBHiIII", 0, 0, 0, ifindex, handle, parent, 2)
    body += netlink.attr(netlink.TCA_KIND, kind.encode() + b"\0") + netlink.attr(netlink.TCA_OPTIONS, b"")
    body += netlink.attr(netlink.TCA_STATS2 | netlink.NLA_F_NESTED, stats)
    return struct.pack("=IHHII", 16 + len(body), netlink.RTM_NEWQDISC, 2, seq, 0) + body


def done(seq: int) -> bytes:
    return struct.pack("=IHHIIi", 20, netlink.NLMSG_DONE, 2, seq, 0, 0)


def test_a_qdisc_dump_request_asks_for_every_qdisc() -> None:
    message = netlink.qdisc_dump_message(7)
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", message)
    assert (length, kind, seq) == (len(message), netlink.RTM_GETQDISC, 7) == (36, 38, 7)
    assert flags == netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP


def test_a_dump_answer_reads_each_qdiscs_queue_across_reads_until_done() -> None:
    first = dumped(7, 3, 0x20000, 0x10001, "tbf", (200, 302_800, 4, 0, 11))
    other = dumped(6, 3, 0x30000, 0x20001, "pfifo", (1, 1, 1, 1, 1))  # an older request's: passed over
    leaf = dumped(7, 3, 0x30000, 0x20001, "pfifo", (200, 302_800, 4, 0, 0))
    found, finished = netlink.parse_qdisc_dump(first + other, 7)
    assert not finished and found == [netlink.QueueStats(3, 0x20000, 0x10001, "tbf", 200, 302_800, 4)]
    found, finished = netlink.parse_qdisc_dump(leaf + done(7), 7)
    assert finished and found == [netlink.QueueStats(3, 0x30000, 0x20001, "pfifo", 200, 302_800, 4)]


def test_a_refused_or_cut_dump_is_an_error_not_an_empty_queue() -> None:
    refused = struct.pack("=IHHIIi", 36, netlink.NLMSG_ERROR, 0, 7, 0, -1) + bytes(16)
    with pytest.raises(netlink.DumpError, match="errno 1"):
        netlink.parse_qdisc_dump(refused, 7)
    whole = dumped(7, 3, 0x30000, 0x20001, "pfifo", (200, 302_800, 4, 0, 0))
    with pytest.raises(netlink.DumpError, match="runs past"):
        netlink.parse_qdisc_dump(whole[:-8], 7)
