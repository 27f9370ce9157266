"""The QoS probe wire format shared by the client and the server's UDP echo (pure, no I/O).

Layout, network byte order, 48 bytes, then optional padding up to the user's payload size:

    offset size field
    0      4    magic            b"QLPB"
    4      1    version          1
    5      1    flags            bit0 REPLY (set by the echo), bit1 STAMPED (server times valid),
                                 bit2 COUNTED (server_count valid)
    6      2    header_len       48 (lets later versions grow the header)
    8      4    test_id          random per run; replies of other runs are ignored
    12     8    seq              0, 1, 2, ... (64-bit, never wraps in practice)
    20     8    client_send_ns   client wall clock (CLOCK_REALTIME, ns since the epoch)
    28     8    server_recv_ns   echo wall clock when the datagram arrived (0 in requests)
    36     8    server_send_ns   echo wall clock just before the reply left (0 in requests)
    44     4    server_count     0 in requests; an echo that sets COUNTED puts here how many probes of this
                                 test id it has received so far, this one included (mod 2**32), so the
                                 client can split loss into up (never reached the echo) and down

The echo stamps probes in place and returns everything else unchanged, so a plain UDP echo test still
works. Wall-clock stamps let the client split the round trip into one-way delays: exact where client and
echo share a kernel clock (containers on one host), dependent on clock sync elsewhere.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"QLPB"
VERSION = 1
FLAG_REPLY = 0x01
FLAG_STAMPED = 0x02
FLAG_COUNTED = 0x04
_HEADER = struct.Struct("!4sBBHIQQQQI")
HEADER_LEN = _HEADER.size  # 48
assert HEADER_LEN == 48


class ProbeError(ValueError):
    """A datagram that is not a valid probe; `reason` says why (counted, never fatal)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Probe:
    test_id: int
    seq: int
    client_send_ns: int
    server_recv_ns: int = 0
    server_send_ns: int = 0
    flags: int = 0
    server_count: int = 0

    @property
    def is_reply(self) -> bool:
        return bool(self.flags & FLAG_REPLY)

    @property
    def is_stamped(self) -> bool:
        return bool(self.flags & FLAG_STAMPED)

    @property
    def is_counted(self) -> bool:
        return bool(self.flags & FLAG_COUNTED)


def encode(probe: Probe, size: int = HEADER_LEN) -> bytes:
    """Bytes of `probe`, zero-padded to `size` (at least the header)."""
    header = _HEADER.pack(MAGIC, VERSION, probe.flags, HEADER_LEN, probe.test_id, probe.seq,
                          probe.client_send_ns, probe.server_recv_ns, probe.server_send_ns,
                          probe.server_count & 0xFFFFFFFF)
    if size <= HEADER_LEN:
        return header
    return header + bytes(size - HEADER_LEN)


def decode(data: bytes) -> Probe:
    """Parse a probe header; raise ProbeError for anything that is not one."""
    if len(data) < HEADER_LEN:
        raise ProbeError("short")
    magic, version, flags, header_len, test_id, seq, sent, recv, send, count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ProbeError("magic")
    if version != VERSION:
        raise ProbeError("version")
    if header_len < HEADER_LEN or header_len > len(data):
        raise ProbeError("header_len")
    return Probe(test_id, seq, sent, recv, send, flags, count)


def is_probe(data: bytes) -> bool:
    """Cheap check the echo uses before stamping."""
    return len(data) >= HEADER_LEN and data[:4] == MAGIC and data[4] == VERSION


def stamp_reply(data: bytes | bytearray, recv_ns: int, send_ns: int, count: int | None = None) -> bytes:
    """The echo's reply to a probe: same bytes with REPLY|STAMPED and the server times set.

    With `count` (probes of this test id received so far, this one included) the reply also carries
    COUNTED and the count, so the client can tell up-link from down-link loss.
    """
    reply = bytearray(data)
    reply[5] |= FLAG_REPLY | FLAG_STAMPED
    struct.pack_into("!QQ", reply, 28, recv_ns, send_ns)
    if count is not None:
        reply[5] |= FLAG_COUNTED
        struct.pack_into("!I", reply, 44, count & 0xFFFFFFFF)
    return bytes(reply)
