"""The kernel's view of a TCP connection (Linux `struct tcp_info`, include/uapi/linux/tcp.h).

The load-generating connections are HTTP/1.1, which cannot multiplex a self probe beside a bulk body,
so the draft's fallback is used: the TCP stack's own RTT estimate of the loaded connection. The sender
of the bulk data measures it from its ACKs (`tcpi_rtt`, smoothed, µs); the receiver of a download
estimates it from TCP timestamps (`tcpi_rcv_rtt`, µs), which includes the same queue. `bytes_acked`
(upload) and `bytes_received` (download) count payload at the TCP level, for throughput.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

TCP_INFO = getattr(socket, "TCP_INFO", 11)
BUFFER_BYTES = 256
_U32 = struct.Struct("=I")
_U64 = struct.Struct("=Q")
# Offsets in struct tcp_info (stable ABI: fields are only ever appended).
RTT_US, RTTVAR_US, SND_CWND, RCV_RTT_US, TOTAL_RETRANS = 68, 72, 80, 92, 100
BYTES_ACKED, BYTES_RECEIVED, MIN_RTT_US = 120, 128, 148
MIN_LENGTH = MIN_RTT_US + 4  # Linux ≥ 4.6


class TcpInfo(NamedTuple):
    rtt_us: int           # smoothed RTT of the data this end sent (sender side)
    rttvar_us: int
    snd_cwnd: int         # packets
    rcv_rtt_us: int       # receiver-side RTT estimate (0 until measured)
    total_retrans: int
    bytes_acked: int      # bytes this end sent that the peer acknowledged (+1 for the SYN)
    bytes_received: int   # bytes this end received
    min_rtt_us: int


def parse(data: bytes) -> TcpInfo | None:
    """`getsockopt(TCP_INFO)` bytes → fields; None when the kernel's struct is too old or short."""
    if len(data) < MIN_LENGTH:
        return None

    def u32(offset: int) -> int:
        return int(_U32.unpack_from(data, offset)[0])

    def u64(offset: int) -> int:
        return int(_U64.unpack_from(data, offset)[0])

    return TcpInfo(u32(RTT_US), u32(RTTVAR_US), u32(SND_CWND), u32(RCV_RTT_US), u32(TOTAL_RETRANS),
                   u64(BYTES_ACKED), u64(BYTES_RECEIVED), u32(MIN_RTT_US))


def read(sock: socket.socket) -> TcpInfo | None:
    """The connection's tcp_info now; None off Linux or on a closed socket."""
    try:
        return parse(sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, BUFFER_BYTES))
    except OSError:
        return None


def self_rtt_us(info: TcpInfo, sending: bool) -> int:
    """The RTT estimate that sees the loaded queue: the sender's `rtt` when this end sends the bulk data
    (upload), the receiver's `rcv_rtt` when it receives it (download); 0 = not measured yet."""
    return info.rtt_us if sending else info.rcv_rtt_us
