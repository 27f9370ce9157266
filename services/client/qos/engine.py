"""The I/O of a QoS run: a paced sender on the monotonic clock and a receive thread, both only recording.

Receive timestamps come from the kernel (SO_TIMESTAMPNS, the moment the datagram reached the socket)
where available, so neither thread wake-up latency nor the GIL shows up in RTTs. The kernel stamp is on
the wall clock; it is mapped onto the monotonic clock by the (microseconds small) offset to a user-space
wall/monotonic pair read right after the datagram is taken, so a wall-clock step cannot distort RTTs.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
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


class Receiver(threading.Thread):
    """Blocking receive loop: stamp, check, record. Stops when `stop()` is called."""

    def __init__(self, sock: socket.socket, recorder: Recorder, test_id: int, clock: Clock = SYSTEM_CLOCK,
                 ) -> None:
        super().__init__(name="qos-receiver", daemon=True)
        self._sock = sock
        self._recorder = recorder
        self._test_id = test_id
        self._clock = clock
        self._stopping = threading.Event()
        self.last_arrival_mono_ns = 0
        # Linux wakes a blocked recvmsg on shutdown(SHUT_RD): one syscall per datagram, no poll.
        sock.settimeout(None if sys.platform.startswith("linux") else 0.05)

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):  # not connected or already shut: the timeout ends the loop
            self._sock.shutdown(socket.SHUT_RD)

    def run(self) -> None:
        recvmsg = self._sock.recvmsg
        while not self._stopping.is_set():
            try:
                data, ancdata, _, address = recvmsg(RECV_BUFFER, 64)
            except TimeoutError:
                continue
            except OSError:
                self._recorder.recv_errors += 1  # e.g. ICMP port unreachable while the echo starts
                if self._stopping.wait(0.001):
                    break
                continue
            user_mono = self._clock.mono_ns()
            user_wall = self._clock.wall_ns()
            if address is None and not data:
                break  # shutdown(SHUT_RD) by stop()
            kernel_wall = _kernel_wall_ns(ancdata)
            wall = kernel_wall if kernel_wall is not None and 0 <= user_wall - kernel_wall < 10**9 \
                else user_wall
            self._record(data, user_mono - (user_wall - wall), wall)

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


def wait_until(target_mono_ns: int, spin_ns: int, clock: Clock = SYSTEM_CLOCK) -> int:
    """Sleep until `spin_ns` before the target, then spin on the monotonic clock; returns the time."""
    now = clock.mono_ns()
    remaining = target_mono_ns - now - spin_ns
    if remaining > 0:
        time.sleep(remaining / 1e9)
    now = clock.mono_ns()
    while now < target_mono_ns:
        now = clock.mono_ns()
    return now


def send_all(sock: socket.socket, config: QosConfig, test_id: int, offsets_ns: list[int],
             recorder: Recorder, clock: Clock = SYSTEM_CLOCK,
             stop: Callable[[], bool] = lambda: False) -> None:
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
        now = wait_until(target, spin_ns, clock)
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
