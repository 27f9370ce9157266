"""The pcap reader on files built here byte by byte: both byte orders, µs and ns, Ethernet, VLAN and
Linux cooked frames, UDP and TCP; probe/reply pairing and the gap between them."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from netem import topology
from netem.tools.pcap import PcapError, probe_exchanges, read_pcap
from services.common import probe

CLIENT, PROXY = topology.ADDRESSES[("client", "edge")], topology.ADDRESSES[("proxy", "edge")]
RELAY, HTTP = topology.port("proxy", "udp"), topology.port("proxy", "http")


def _ip(src: str, dst: str, proto: int, body: bytes) -> bytes:
    head = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(body), 0, 0, 64, proto, 0)
    return head + ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed + body


def udp(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    return _ip(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)


def tcp(src: str, sport: int, dst: str, dport: int, payload: bytes, flags: int = 0x18) -> bytes:
    return _ip(src, dst, 6, struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 512, 0, 0) + payload)


def ether(ip: bytes, vlan: bool = False) -> bytes:
    macs = b"\x02" * 6 + b"\x04" * 6
    return macs + (b"\x81\x00\x00\x05" if vlan else b"") + b"\x08\x00" + ip


def cooked(ip: bytes) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, 0x0800) + ip


def pcap(frames: list[tuple[float, bytes]], *, order: str = "<", nanos: bool = False,
         linktype: int = 1) -> bytes:
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    per_s = 1_000_000_000 if nanos else 1_000_000
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for time_s, frame in frames:
        whole = int(time_s)
        fraction = round((time_s - whole) * per_s)
        out += struct.pack(order + "IIII", whole, fraction, len(frame), len(frame)) + frame
    return out


def _probe(seq: int, reply: bool = False) -> bytes:
    flags = probe.FLAG_REPLY | probe.FLAG_STAMPED if reply else 0
    return probe.encode(probe.Probe(test_id=9, seq=seq, client_send_ns=1, flags=flags), size=64)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nanos", [False, True])
def test_udp_and_tcp_decoded_in_every_header_variant(order: str, nanos: bool) -> None:
    data = pcap([(100.25, ether(udp(CLIENT, 40000, PROXY, RELAY, b"x"))),
                 (100.5, ether(tcp(CLIENT, 40001, PROXY, HTTP, b"GET / HTTP/1.1\r\n"), vlan=True))],
                order=order, nanos=nanos)
    first, second = read_pcap(data)
    assert (first.proto, first.src, first.sport, first.dst, first.dport, first.payload) == \
        ("udp", CLIENT, 40000, PROXY, RELAY, b"x")
    assert first.time_s == pytest.approx(100.25)
    assert (second.proto, second.dport, second.payload, second.tcp_flags) == \
        ("tcp", HTTP, b"GET / HTTP/1.1\r\n", 0x18)


def test_linux_cooked_frames_and_non_ipv4() -> None:
    arp = b"\x02" * 12 + b"\x08\x06" + bytes(28)
    packets = list(read_pcap(pcap([(1.0, cooked(udp(CLIENT, 1, PROXY, 2, b"")))], linktype=113)))
    assert packets[0].proto == "udp"
    assert next(iter(read_pcap(pcap([(1.0, arp)])))).proto == "other"


@pytest.mark.parametrize(("data", "message"), [
    (b"", "24"), (b"\x0a\x0d\x0d\x0a" + bytes(40), "pcapng"),
    (pcap([], linktype=105), "link type 105"),
])
def test_what_is_not_read_says_why(data: bytes, message: str) -> None:
    with pytest.raises(PcapError, match=message):
        list(read_pcap(data))


def test_a_record_cut_short_at_the_end_is_left_out() -> None:
    data = pcap([(1.0, ether(udp(CLIENT, 1, PROXY, 2, b"a"))), (2.0, ether(udp(CLIENT, 1, PROXY, 2, b"b")))])
    assert [p.payload for p in read_pcap(data)] == [b"a", b"b"]
    assert [p.payload for p in read_pcap(data[:-10])] == [b"a"]  # a capture killed mid-write


def test_probes_pair_with_their_replies_and_the_gap_is_the_time_between() -> None:
    frames = [
        (10.000, ether(udp(CLIENT, 40000, PROXY, RELAY, _probe(0)))),
        (10.010, ether(udp(CLIENT, 40000, PROXY, RELAY, _probe(1)))),
        (10.052, ether(udp(PROXY, RELAY, CLIENT, 40000, _probe(0, reply=True)))),
        (10.055, ether(udp(PROXY, RELAY, CLIENT, 40001, _probe(1, reply=True)))),  # another client's port
        (10.064, ether(udp(PROXY, RELAY, CLIENT, 40000, _probe(1, reply=True)))),
        (10.070, ether(udp(CLIENT, 40000, PROXY, RELAY, _probe(2)))),  # lost: no reply
        (10.080, ether(udp(CLIENT, 40000, PROXY, RELAY, b"not a probe" * 5))),
    ]
    exchanges = probe_exchanges(list(read_pcap(pcap(frames))))
    assert [(e.seq, round(e.gap_s, 3)) for e in exchanges] == [(0, 0.052), (1, 0.054)]
    assert exchanges[0].client == (CLIENT, 40000) and exchanges[0].target == (PROXY, RELAY)
