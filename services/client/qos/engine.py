"""The I/O of a QoS run: a paced sender on the monotonic clock that also collects replies; it only records.

Receive timestamps come from the kernel (SO_TIMESTAMPNS, the moment the datagram reached the socket)
where available, so neither wake-up latency nor reading replies between sends shows up in RTTs (without
them, replies read during the sender's final spin are late by up to `spin_s`). The kernel stamp is on
the wall clock; it is mapped onto the monotonic clock by the (microseconds small) offset to a user-space
wall/monotonic pair read right after the datagram is taken, so a wall-clock step cannot distort RTTs.

Per probe at high rates (profiled, docs/client.md): one `send`, one `recvmsg_into` into a preallocated
buffer, the header parsed in place, a few list appends; no per-probe objects beyond the `Arrival` record.
A sender behind schedule sends the slots that are due first and reads their replies in batches.
"""

from __future__ import annotations

import select
import socket
import struct
import sys
import time
from collections.abc import Callable

from services.client.family import addresses
from services.client.qos.config import QosConfig
from services.client.qos.records import Arrival, Recorder
from services.common import probe
from services.common.clock import SYSTEM_CLOCK, Clock, SleepingClock, SystemClock

SO_TIMESTAMPNS = 35  # Linux asm-generic value; the socket module does not export it
_TIMESPEC = struct.Struct("@qq")
_SEQ_AND_SEND = struct.Struct("!QQ")  # probe header offsets 12 (seq) and 20 (client_send_ns)
_HEADER = struct.Struct("!4sBBHIQQQQI")  # the whole probe header (services/common/probe.py)
RECV_BUFFER = 1 << 16
ANCILLARY_SPACE = 64
BUFFER_BYTES = 4 << 20  # SO_RCVBUF/SO_SNDBUF asked for (the kernel caps it at net.core.rmem_max/wmem_max)
DRAIN_LIMIT = 4096  # replies read per drain call at most (a loop bound)
READ_EVERY = 32  # a sender behind schedule sends due probes first, reading replies every this many
DRAIN_GUARD_NS = 30_000  # while spinning, read replies only if the slot is at least this far away

ClockReader = Callable[[], int]


def sleeper(clock: SleepingClock) -> Callable[[float], None]:
    """`time.sleep` itself for the system clock; the clock's own `sleep` otherwise (a fake moves)."""
    return time.sleep if isinstance(clock, SystemClock) else clock.sleep


def clock_readers(clock: Clock) -> tuple[ClockReader, ClockReader]:
    """(mono_ns, wall_ns) of `clock`: for the system clock the C functions themselves, which saves a
    Python frame per read (three to five reads per probe)."""
    if isinstance(clock, SystemClock):
        return time.monotonic_ns, time.time_ns
    return clock.mono_ns, clock.wall_ns


def open_socket(config: QosConfig, rcvbuf_bytes: int = BUFFER_BYTES) -> tuple[socket.socket, bool]:
    """A UDP socket connected to the target (replies from elsewhere never reach it); kernel stamps on?"""
    infos = addresses(config.host, config.port, config.family, socket.SOCK_DGRAM)
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
        self._sent_mono = recorder.sends.mono_ns  # its length is the number of probes sent
        self._arrivals = recorder.arrivals
        self._test_id = test_id
        self._clock = clock
        self.last_arrival_mono_ns = 0
        self.answered: set[int] = set()  # sequence numbers seen (for the early end of the wait)
        self._buffer = bytearray(RECV_BUFFER)
        sock.setblocking(False)

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self, until_mono_ns: int | None = None, limit: int = DRAIN_LIMIT, at_least: int = 1) -> None:
        """Record waiting replies until none is left, `limit` were read, or `until_mono_ns` has passed
        (checked after the first `at_least` replies). One preallocated buffer, no per-reply copies."""
        recvmsg_into, buffers, record = self._sock.recvmsg_into, [self._buffer], self._record
        mono_ns, wall_ns = clock_readers(self._clock)
        until = until_mono_ns if until_mono_ns is not None else 1 << 62
        for count in range(1, limit + 1):
            try:
                size, ancdata, _, _ = recvmsg_into(buffers, ANCILLARY_SPACE)
            except BlockingIOError:
                return
            except OSError:
                self._recorder.recv_errors += 1  # e.g. ICMP port unreachable while the echo starts
                return
            user_mono = mono_ns()
            user_wall = wall_ns()
            wall = _kernel_wall_ns(ancdata) if ancdata else None
            if wall is None or not 0 <= user_wall - wall < 1_000_000_000:
                wall = user_wall
            record(self._buffer, user_mono - (user_wall - wall), wall, size)
            if user_mono >= until and count >= at_least:
                return

    def wait(self, timeout_s: float) -> None:
        """Block up to `timeout_s` for a reply, then record all that are waiting."""
        readable, _, _ = select.select([self._sock], [], [], max(timeout_s, 0.0))
        if readable:
            self.drain()

    def _record(self, data: bytes | bytearray, mono_ns: int, wall_ns: int, size: int = -1) -> None:
        """Check and record one datagram: `data[:size]` (all of `data` when size < 0)."""
        size = len(data) if size < 0 else size
        reason = "short"
        if size >= probe.HEADER_LEN:
            magic, version, flags, header_len, test_id, seq, _, server_recv, server_send, count = \
                _HEADER.unpack_from(data)
            reason = ("magic" if magic != probe.MAGIC else "version" if version != probe.VERSION
                      else "header_len" if not probe.HEADER_LEN <= header_len <= size
                      else "foreign" if test_id != self._test_id
                      else "unknown_seq" if seq >= len(self._sent_mono) else "")
        if reason:
            self._recorder.rejected[reason] += 1
            return
        stamped = flags & probe.FLAG_STAMPED
        self._arrivals.append(Arrival(
            seq, mono_ns, wall_ns, size, server_recv if stamped else 0, server_send if stamped else 0,
            count if flags & probe.FLAG_COUNTED else None))
        self.last_arrival_mono_ns = mono_ns
        self.answered.add(seq)


def wait_until(target_mono_ns: int, spin_ns: int, clock: SleepingClock = SYSTEM_CLOCK,
               collector: Collector | None = None, backlog: int = 0) -> int:
    """Sleep (recording replies) until `spin_ns` before the target, then spin; returns the time.

    At least `backlog` + 2 replies are read (if waiting) even when the sleep ran late, so reading keeps
    ahead of sending (`backlog`: probes sent since the last read).
    """
    mono_ns, sleep = clock_readers(clock)[0], sleeper(clock)
    now = mono_ns()
    while (remaining := target_mono_ns - now - spin_ns) > 0:
        if collector is None or collector.kernel_timestamps:
            sleep(remaining / 1e9)  # replies wait in the socket with their kernel stamps
        else:
            collector.wait(remaining / 1e9)  # user-space stamps: read each reply as it comes
        now = mono_ns()
    if collector is None:
        while now < target_mono_ns:
            now = mono_ns()
        return now
    guard = target_mono_ns - DRAIN_GUARD_NS
    collector.drain(until_mono_ns=guard, at_least=backlog + 2)
    now = mono_ns()
    while now < target_mono_ns:
        if now < guard:
            collector.drain(until_mono_ns=guard)
        now = mono_ns()
    return now


def _reach(target_mono_ns: int, spin_ns: int, clock: SleepingClock, collector: Collector | None, unread: int,
           back_to_back: bool) -> tuple[int, int]:
    """Wait for a slot (reading replies meanwhile); returns the time and the probes sent since a read.

    A slot that is already due (behind schedule, or the rest of a burst) is sent at once; its replies are
    read in batches of `READ_EVERY` (one syscall fewer per probe while catching up).
    """
    now = clock_readers(clock)[0]()
    if collector is None or not (back_to_back or now >= target_mono_ns):
        return wait_until(target_mono_ns, spin_ns, clock, None if back_to_back else collector, unread), 0
    if unread + 1 < READ_EVERY:
        return now, unread + 1
    collector.drain(limit=4 * READ_EVERY)
    return clock_readers(clock)[0](), 0


def send_all(sock: socket.socket, config: QosConfig, test_id: int, offsets_ns: list[int],
             recorder: Recorder, clock: SleepingClock = SYSTEM_CLOCK,
             stop: Callable[[], bool] = lambda: False, collector: Collector | None = None) -> None:
    """Send one probe per offset, on time.

    After a stall the sender catches up at most `max_lag_s` of schedule: a slot found already past the
    next one *and* more than `max_lag_s` late is skipped (counted as missed), so a long stall never turns
    into a burst (iperf3's catch-up), while a short hiccup at high rates does not lose slots.
    """
    packet = bytearray(probe.encode(probe.Probe(test_id, 0, 0), config.size))
    sends, pack_into, send = recorder.sends, _SEQ_AND_SEND.pack_into, sock.send
    sched, walls, monos = sends.sched_mono_ns, sends.wall_ns, sends.mono_ns
    mono_ns, wall_ns = clock_readers(clock)
    spin_ns, max_lag_ns = int(config.spin_s * 1e9), int(config.max_lag_s * 1e9)
    start = mono_ns() + 1_000_000
    last, unread, previous = len(offsets_ns) - 1, 0, -1
    for index, offset in enumerate(offsets_ns):
        if stop():
            break
        target = start + offset
        now, unread = _reach(target, spin_ns, clock, collector, unread, offset == previous)
        previous = offset  # a burst's probes share one offset and leave back to back
        if (index < last and offsets_ns[index + 1] > offset and now >= start + offsets_ns[index + 1]
                and now - target > max_lag_ns):
            sends.missed += 1
            continue
        wall = wall_ns()
        pack_into(packet, 12, len(monos), wall)
        sched.append(target)
        walls.append(wall)
        monos.append(mono_ns())  # last: the receiver accepts seq < len(mono_ns)
        try:
            send(packet)
        except OSError:
            sends.errors += 1
