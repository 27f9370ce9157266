"""The pcap reader decodes IPv6 as it does IPv4: addresses, ports, payloads past extension headers, and
probe/reply pairs of a v6 QoS run beside a v4 one in the same capture."""

from __future__ import annotations

import ipaddress
import struct

from netem import topology
from netem.tools.pcap import probe_exchanges, read_pcap

from .test_pcap import CLIENT, HTTP, PROXY, RELAY, _probe, pcap, udp

CLIENT6, PROXY6 = topology.ADDRESSES6[("client", "edge")], topology.ADDRESSES6[("proxy", "edge")]
HOP_BY_HOP, ROUTING, FRAGMENT, DEST_OPTS, NO_NEXT = 0, 43, 44, 60, 59


def _ip6(src: str, dst: str, proto: int, body: bytes, ext: list[tuple[int, bytes]] | None = None) -> bytes:
    """An IPv6 packet; `ext` are extension headers (kind, body after the 2-byte next/length prefix)."""
    chain = b""
    kinds = [kind for kind, _ in ext or []] + [proto]
    for index, (_, rest) in enumerate(ext or []):
        if kinds[index] == FRAGMENT:
            chain += bytes([kinds[index + 1], 0]) + rest
        else:
            chain += bytes([kinds[index + 1], (len(rest) + 2) // 8 - 1]) + rest
    payload = chain + body
    head = struct.pack("!IHBB", 6 << 28, len(payload), kinds[0], 64)
    return head + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + payload


def udp6(src: str, sport: int, dst: str, dport: int, data: bytes,
         ext: list[tuple[int, bytes]] | None = None) -> bytes:
    return _ip6(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data, ext)


def ether6(ip: bytes) -> bytes:
    return b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + ip


def test_v6_udp_and_tcp_are_decoded_with_addresses_and_ports() -> None:
    tcp = struct.pack("!HHIIBBHHH", 40001, HTTP, 1, 1, 5 << 4, 0x02, 512, 0, 0)
    packets = list(read_pcap(pcap([(1.0, ether6(udp6(CLIENT6, 40000, PROXY6, RELAY, b"hi"))),
                                   (2.0, ether6(_ip6(CLIENT6, PROXY6, 6, tcp)))])))
    assert [(p.proto, p.src, p.sport, p.dst, p.dport) for p in packets] == [
        ("udp", CLIENT6, 40000, PROXY6, RELAY), ("tcp", CLIENT6, 40001, PROXY6, HTTP)]
    assert packets[0].payload == b"hi" and packets[1].tcp_flags == 0x02


def test_linux_cooked_v6() -> None:
    frame = struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, 0x86DD) + udp6(CLIENT6, 1, PROXY6, 2, b"x")
    [packet] = read_pcap(pcap([(1.0, frame)], linktype=113))
    assert (packet.proto, packet.src, packet.payload) == ("udp", CLIENT6, b"x")


def test_extension_headers_are_walked_to_the_transport_header() -> None:
    options = bytes(6)  # PadN: the smallest header, 8 bytes
    routing = bytes(14)  # 16 bytes: length field 1
    first_fragment = struct.pack("!HI", 0 << 3 | 1, 7)  # offset 0, more fragments
    ext = [(HOP_BY_HOP, options), (ROUTING, routing), (DEST_OPTS, options), (FRAGMENT, first_fragment)]
    [packet] = read_pcap(pcap([(1.0, ether6(udp6(CLIENT6, 5, PROXY6, RELAY, b"payload", ext)))]))
    assert (packet.proto, packet.dport, packet.payload) == ("udp", RELAY, b"payload")


def test_a_later_fragment_has_no_transport_header() -> None:
    later = struct.pack("!HI", 185 << 3, 7)  # offset 1480 bytes
    [packet] = read_pcap(pcap([(1.0, ether6(udp6(CLIENT6, 5, PROXY6, RELAY, b"rest", [(FRAGMENT, later)])))]))
    assert (packet.proto, packet.src, packet.dst) == ("other", CLIENT6, PROXY6)


def test_truncated_and_odd_v6_headers_are_other_not_errors() -> None:
    short = ether6(udp6(CLIENT6, 5, PROXY6, RELAY, b"x")[:30])
    no_next = ether6(_ip6(CLIENT6, PROXY6, NO_NEXT, b""))
    loop = ether6(_ip6(CLIENT6, PROXY6, HOP_BY_HOP, bytes([HOP_BY_HOP, 0]) + bytes(6)) + bytes(64))
    protos = [p.proto for p in read_pcap(pcap([(1.0, short), (2.0, no_next), (3.0, loop)]))]
    assert protos == ["other", "other", "other"]


def test_v6_probes_pair_with_their_replies_beside_v4_ones() -> None:
    frames = [
        (10.000, ether6(udp6(CLIENT6, 40000, PROXY6, RELAY, _probe(0)))),
        (10.001, b"\x02" * 12 + b"\x08\x00" + udp(CLIENT, 40000, PROXY, RELAY, _probe(0))),
        (10.030, ether6(udp6(PROXY6, RELAY, CLIENT6, 40000, _probe(0, reply=True)))),
        (10.041, b"\x02" * 12 + b"\x08\x00" + udp(PROXY, RELAY, CLIENT, 40000, _probe(0, reply=True))),
    ]
    exchanges = probe_exchanges(list(read_pcap(pcap(frames))))
    assert [(e.client, e.target, round(e.gap_s, 3)) for e in exchanges] == [
        ((CLIENT6, 40000), (PROXY6, RELAY), 0.030), ((CLIENT, 40000), (PROXY, RELAY), 0.040)]
