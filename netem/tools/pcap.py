"""Read classic pcap files (what `tcpdump -w` writes) and decode Ethernet IPv4/IPv6 UDP and TCP (pure).

Enough to check a capture of the stack: who talked to whom on which ports, the QoS probes and their
echoed replies (`services.common.probe`), and the time between a probe and its reply at the capture
point. Both byte orders and micro/nanosecond timestamps; Ethernet (DLT 1) and Linux cooked (DLT 113).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from netem.core.errors import NetemError
from services.common import probe

_MAGICS = {  # magic as read little-endian → (byte order, timestamp fraction per second)
    0xA1B2C3D4: ("<", 1_000_000), 0xD4C3B2A1: (">", 1_000_000),
    0xA1B23C4D: ("<", 1_000_000_000), 0x4D3CB2A1: (">", 1_000_000_000),
}
LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
_ETH_IPV4, _ETH_IPV6, _ETH_VLAN = 0x0800, 0x86DD, 0x8100
_UDP, _TCP = 17, 6
# IPv6 extension headers walked to reach UDP/TCP: hop-by-hop, routing, destination options (length in
# 8-byte units after the first 8) and fragment (8 bytes; only a first fragment holds the L4 header)
_EXT_HEADERS, _FRAGMENT, _MAX_EXT_HEADERS = frozenset({0, 43, 60}), 44, 8


class PcapError(NetemError):
    """The file is not a pcap this reader understands; says what was found."""


@dataclass(frozen=True)
class Packet:
    time_s: float
    src: str
    dst: str
    proto: str  # "udp" | "tcp" | "other"
    sport: int
    dport: int
    payload: bytes
    tcp_flags: int = 0


def read_pcap(data: bytes) -> Iterator[Packet]:
    """Every packet of a pcap file's bytes: IPv4 and IPv6 (past its extension headers) with addresses and
    UDP/TCP ports; anything else as proto "other" with no addresses."""
    if len(data) < 24:
        raise PcapError(f"not a pcap file: {len(data)} bytes, a pcap header needs 24")
    magic = struct.unpack_from("<I", data)[0]
    if magic not in _MAGICS:
        raise PcapError(f"not a classic pcap file (magic {magic:#010x}; pcapng is not read here)")
    order, per_second = _MAGICS[magic]
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    if linktype not in (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL):
        raise PcapError(f"link type {linktype} not read here (Ethernet 1 or Linux cooked 113)")
    record = struct.Struct(order + "IIII")
    offset = 24
    while offset + record.size <= len(data):
        seconds, fraction, captured, _length = record.unpack_from(data, offset)
        offset += record.size
        if offset + captured > len(data):
            break  # the last record was cut short (a capture killed mid-write)
        frame = data[offset:offset + captured]
        offset += captured
        yield decode_frame(frame, linktype, seconds + fraction / per_second)


def decode_frame(frame: bytes, linktype: int, time_s: float) -> Packet:
    if linktype == LINKTYPE_ETHERNET:
        ethertype, start = struct.unpack_from("!H", frame, 12)[0] if len(frame) >= 14 else 0, 14
        if ethertype == _ETH_VLAN and len(frame) >= 18:
            ethertype, start = struct.unpack_from("!H", frame, 16)[0], 18
    else:
        ethertype, start = struct.unpack_from("!H", frame, 14)[0] if len(frame) >= 16 else 0, 16
    if ethertype == _ETH_IPV4:
        return _decode_ipv4(frame[start:], time_s)
    if ethertype == _ETH_IPV6:
        return _decode_ipv6(frame[start:], time_s)
    return Packet(time_s, "", "", "other", 0, 0, b"")


def _decode_ipv4(ip: bytes, time_s: float) -> Packet:
    if len(ip) < 20 or ip[0] >> 4 != 4:
        return Packet(time_s, "", "", "other", 0, 0, b"")
    header = (ip[0] & 0x0F) * 4
    total = struct.unpack_from("!H", ip, 2)[0]
    proto = ip[9]
    src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
    body = ip[header:total] if total >= header else ip[header:]
    return _transport(proto, body, src, dst, time_s)


def _decode_ipv6(ip: bytes, time_s: float) -> Packet:
    if len(ip) < 40 or ip[0] >> 4 != 6:
        return Packet(time_s, "", "", "other", 0, 0, b"")
    src, dst = str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40]))
    proto, offset = ip[6], 40
    end = 40 + struct.unpack_from("!H", ip, 4)[0]  # payload length (0 only with a jumbogram: not here)
    for _ in range(_MAX_EXT_HEADERS):
        if proto in _EXT_HEADERS and offset + 8 <= len(ip):
            proto, offset = ip[offset], offset + 8 + ip[offset + 1] * 8
        elif proto == _FRAGMENT and offset + 8 <= len(ip):
            first = struct.unpack_from("!H", ip, offset + 2)[0] >> 3 == 0
            proto, offset = (ip[offset] if first else -1), offset + 8
        else:
            break
    return _transport(proto, ip[offset:end], src, dst, time_s)


def _transport(proto: int, body: bytes, src: str, dst: str, time_s: float) -> Packet:
    if proto == _UDP and len(body) >= 8:
        sport, dport = struct.unpack_from("!HH", body)
        return Packet(time_s, src, dst, "udp", sport, dport, body[8:])
    if proto == _TCP and len(body) >= 20:
        sport, dport = struct.unpack_from("!HH", body)
        offset = (body[12] >> 4) * 4
        return Packet(time_s, src, dst, "tcp", sport, dport, body[offset:], tcp_flags=body[13])
    return Packet(time_s, src, dst, "other", 0, 0, b"")


@dataclass(frozen=True)
class ProbeExchange:
    """A probe seen going one way at the capture point and its echoed reply coming back."""

    test_id: int
    seq: int
    client: tuple[str, int]
    target: tuple[str, int]
    gap_s: float  # reply time − probe time, both as captured


def probe_exchanges(packets: list[Packet]) -> list[ProbeExchange]:
    """Pair each probe (not yet a reply) with the first reply of the same test id and sequence that
    travels the opposite way between the same two address:port pairs."""
    sent: dict[tuple[int, int, str, int, str, int], Packet] = {}
    found: list[ProbeExchange] = []
    for packet in packets:
        if packet.proto != "udp" or not probe.is_probe(packet.payload):
            continue
        try:
            decoded = probe.decode(packet.payload)
        except probe.ProbeError:  # cut short by the snap length
            continue
        if not decoded.is_reply:
            sent.setdefault((decoded.test_id, decoded.seq, packet.src, packet.sport, packet.dst,
                             packet.dport), packet)
            continue
        key = (decoded.test_id, decoded.seq, packet.dst, packet.dport, packet.src, packet.sport)
        request = sent.pop(key, None)
        if request is not None:
            found.append(ProbeExchange(decoded.test_id, decoded.seq, (request.src, request.sport),
                                       (request.dst, request.dport), packet.time_s - request.time_s))
    return found
