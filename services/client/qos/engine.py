"""The I/O of a QoS run: a paced sender on the monotonic clock that also collects replies; it only records.

Receive timestamps come from the kernel (SO_TIMESTAMPNS, the moment the datagram reached the socket)
where available, so neither wake-up latency nor reading replies between sends shows up in RTTs (without
them, replies read during the sender's final spin are late by up to `spin_s`). The kernel stamp is on
the wall clock; it is mapped onto the monotonic clock by the (microseconds small) offset to a user-space
wall/monotonic pair read right after the datagram is taken, so a wall-clock step cannot distort RTTs.
"""

from __future__ import annotations

import select
import socket
import struct
import sys
import time
from collections.abc import Callable

from services.client.qos.config import QosConfig
from services.client.qos.records import Arrival, Recorder
from services.common import probe
from services.common.clock import SYSTEM_CLOCK, Clock

SO_TIMESTAMPNS = 35  # Linux asm-generic value; the socket module does not export it
_TIMESPEC = struct.Struct("@qq")
_SEQ_AND_SEND = struct.Struct("!QQ")  # probe header offsets 12 (seq) and 20 (client_send_ns)
RECV_BUFFER = 1 << 16
DRAIN_GUARD_NS = 30_000  # while spinning, read replies only if the slot is at least this far away


def open_socket(config: QosConfig, rcvbuf_bytes: int = 4 << 20) -> tuple[socket.socket, bool]:
    """A UDP socket connected to the target (replies from elsewhere never reach it); kernel stamps on?"""
    infos = socket.getaddrinfo(config.host, config.port, type=socket.SOCK_DGRAM)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf_bytes)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, rcvbuf_bytes)
        if config.tos:
            level, option = ((socket.IPPROTO_IPV6, socket.IPV6_TCLASS) if family == socket.AF_INET6
                             else (socket.IPPROTO_IP, socket.IP_TOS))
            sock.setsockopt(level, option, config.tos)
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    kernel = False
    if sys.platform.startswith("linux"):
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            kernel = True
        except OSError:
            kernel = False
    return sock, kernel


def _kernel_wall_ns(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanos = _TIMESPEC.unpack_from(data)
            return int(seconds) * 1_000_000_000 + int(nanos)
    return None


class Collector:
    """Reads every waiting reply without blocking: stamp, check, record (called from the sender's loop).

    One thread does everything: no GIL hand-offs between a sender and a receiver thread (which cost a
    scheduler wake-up each on a busy machine). Arrival times are the kernel's, so reading a reply a little
    later (while the sender spins) does not change them.
    """

    def __init__(self, sock: socket.socket, recorder: Recorder, test_id: int, clock: Clock = SYSTEM_CLOCK,
                 kernel_timestamps: bool = False) -> None:
        self._sock = sock
        self.kernel_timestamps = kernel_timestamps
        self._recorder = recorder
        self._test_id = test_id
        self._clock = clock
        self.last_arrival_mono_ns = 0
        self.answered: set[int] = set()  # sequence numbers seen (for the early end of the wait)
        sock.setblocking(False)

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self, until_mono_ns: int | None = None) -> None:
        """Record replies until none is waiting (or `until_mono_ns` has passed)."""
        recvmsg = self._sock.recvmsg
        clock = self._clock
        while True:
            try:
                data, ancdata, _, _ = recvmsg(RECV_BUFFER, 64)
            except BlockingIOError:
                return
            except OSError:
                self._recorder.recv_errors += 1  # e.g. ICMP port unreachable while the echo starts
                return
            user_mono = clock.mono_ns()
            user_wall = clock.wall_ns()
            kernel_wall = _kernel_wall_ns(ancdata)
            wall = kernel_wall if kernel_wall is not None and 0 <= user_wall - kernel_wall < 10**9 \
                else user_wall
            self._record(data, user_mono - (user_wall - wall), wall)
            if until_mono_ns is not None and user_mono >= until_mono_ns:
                return

    def wait(self, timeout_s: float) -> None:
        """Block up to `timeout_s` for a reply, then record all that are waiting."""
        readable, _, _ = select.select([self._sock], [], [], max(timeout_s, 0.0))
        if readable:
            self.drain()

    def _record(self, data: bytes, mono_ns: int, wall_ns: int) -> None:
        try:
            reply = probe.decode(data)
        except probe.ProbeError as exc:
            self._recorder.rejected[exc.reason] += 1
            return
        if reply.test_id != self._test_id:
            self._recorder.rejected["foreign"] += 1
            return
        if reply.seq >= len(self._recorder.sends):
            self._recorder.rejected["unknown_seq"] += 1
            return
        stamped = reply.is_stamped
        self._recorder.arrivals.append(Arrival(
            reply.seq, mono_ns, wall_ns, len(data),
            reply.server_recv_ns if stamped else 0, reply.server_send_ns if stamped else 0,
            reply.server_count if reply.is_counted else None))
        self.last_arrival_mono_ns = mono_ns
        self.answered.add(reply.seq)


def wait_until(target_mono_ns: int, spin_ns: int, clock: Clock = SYSTEM_CLOCK,
               collector: Collector | None = None) -> int:
    """Sleep (recording replies) until `spin_ns` before the target, then spin; returns the time."""
    now = clock.mono_ns()
    while (remaining := target_mono_ns - now - spin_ns) > 0:
        if collector is None or collector.kernel_timestamps:
            time.sleep(remaining / 1e9)  # replies wait in the socket with their kernel stamps
        else:
            collector.wait(remaining / 1e9)  # user-space stamps: read each reply as it comes
        now = clock.mono_ns()
    if collector is not None:  # at least one read per slot, even when the sleep ran late
        collector.drain(until_mono_ns=target_mono_ns - DRAIN_GUARD_NS)
        now = clock.mono_ns()
    while now < target_mono_ns:
        if collector is not None and target_mono_ns - now > DRAIN_GUARD_NS:
            collector.drain(until_mono_ns=target_mono_ns - DRAIN_GUARD_NS)
        now = clock.mono_ns()
    return now


def send_all(sock: socket.socket, config: QosConfig, test_id: int, offsets_ns: list[int],
             recorder: Recorder, clock: Clock = SYSTEM_CLOCK,
             stop: Callable[[], bool] = lambda: False, collector: Collector | None = None) -> None:
    """Send one probe per offset, on time.

    After a stall the sender catches up at most `max_lag_s` of schedule: a slot found already past the
    next one *and* more than `max_lag_s` late is skipped (counted as missed), so a long stall never turns
    into a burst (iperf3's catch-up), while a short hiccup at high rates does not lose slots.
    """
    packet = bytearray(probe.encode(probe.Probe(test_id, 0, 0), config.size))
    sends = recorder.sends
    spin_ns = int(config.spin_s * 1e9)
    max_lag_ns = int(config.max_lag_s * 1e9)
    start = clock.mono_ns() + 1_000_000
    last = len(offsets_ns) - 1
    for index, offset in enumerate(offsets_ns):
        if stop():
            break
        target = start + offset
        mid_burst = index > 0 and offsets_ns[index - 1] == offset  # burst probes leave back to back
        now = wait_until(target, spin_ns, clock, None if mid_burst else collector)
        if (index < last and offsets_ns[index + 1] > offset and now >= start + offsets_ns[index + 1]
                and now - target > max_lag_ns):
            sends.missed += 1
            continue
        wall = clock.wall_ns()
        _SEQ_AND_SEND.pack_into(packet, 12, len(sends), wall)
        sends.sched_mono_ns.append(target)
        sends.wall_ns.append(wall)
        sends.mono_ns.append(clock.mono_ns())  # last: the receiver accepts seq < len(mono_ns)
        try:
            sock.send(packet)
        except OSError:
            sends.errors += 1
