"""struct tcp_info parsing against golden bytes (the field offsets of include/uapi/linux/tcp.h)."""

from __future__ import annotations

import struct

from services.client.responsiveness import tcpinfo


def golden() -> bytes:
    data = bytearray(232)  # Linux 6.x returns 232+ bytes; only the prefix up to tcpi_min_rtt matters
    data[0] = 1  # TCP_ESTABLISHED
    struct.pack_into("=IIII", data, 68, 12_345, 678, 42, 0)  # rtt, rttvar, snd_ssthresh, snd_cwnd
    struct.pack_into("=I", data, 80, 42)
    struct.pack_into("=I", data, 92, 23_456)  # rcv_rtt
    struct.pack_into("=I", data, 100, 7)  # total_retrans
    struct.pack_into("=QQ", data, 120, 1_000_001, 5_000_000)  # bytes_acked, bytes_received
    struct.pack_into("=I", data, 148, 9_999)  # min_rtt
    return bytes(data)


def test_parse_golden_bytes() -> None:
    info = tcpinfo.parse(golden())
    assert info == tcpinfo.TcpInfo(rtt_us=12_345, rttvar_us=678, snd_cwnd=42, rcv_rtt_us=23_456,
                                   total_retrans=7, bytes_acked=1_000_001, bytes_received=5_000_000,
                                   min_rtt_us=9_999)


def test_a_short_struct_is_refused() -> None:
    assert tcpinfo.parse(golden()[: tcpinfo.MIN_LENGTH - 1]) is None
    assert tcpinfo.parse(golden()[: tcpinfo.MIN_LENGTH]) is not None


def test_self_rtt_is_the_senders_estimate_for_uploads_and_the_receivers_for_downloads() -> None:
    info = tcpinfo.parse(golden())
    assert info is not None
    assert tcpinfo.self_rtt_us(info, sending=True) == 12_345
    assert tcpinfo.self_rtt_us(info, sending=False) == 23_456
