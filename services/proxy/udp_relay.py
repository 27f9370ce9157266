"""UDP relay: datagrams from each client go out through that client's own upstream socket, replies come
back to the right client. Bounded session table with idle expiry, counters per session, no queues.

It runs on an `udp_loop.EpollLoop` (its own process in the proxy, `udp_workers.py`). Every socket is
non-blocking and a reader of the loop. A socket that was not ready in the loop's previous poll has one
datagram waiting as a rule (a probe, a ping-pong): it is read with one `recvfrom_into` and sent on with one
`send`, the least work per hop. A socket that was ready in the previous poll too has a backlog: one
`recvmmsg` reads up to `batch` datagrams into preallocated slots (`udp_mmsg.MessageRing`) and each run of
datagrams of one session goes on with one `sendmmsg` (payloads never become Python objects; the session is
found by the raw sender address). Without recvmmsg (not Linux) every read is the one-datagram kind.
A send that would block is counted as a drop (UDP semantics), never queued and never waited for, so a slow
client only loses its own datagrams. Counters are exact on both paths: a datagram read is counted once, to
its session, and a datagram the kernel refuses is counted as dropped or as an error of its side.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from services.common import log

from . import udp_mmsg
from .udp_loop import EpollLoop, Timer
from .udp_session import (
    CLIENT_BUFFER,
    Address,
    Session,
    SessionStats,
    address_of,
    fmt_address,
    grow_buffers,
    name_of,
    open_upstream_socket,
    sockaddr_len,
)

MAX_DATAGRAM = 65535
MAX_PARKED = 256
FD_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE})
WOULD_BLOCK = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})


class UdpRelay:
    """The client-facing socket of the relay and its session table."""

    def __init__(self, upstream: tuple[str, int], *, max_sessions: int = 4096, idle_timeout_s: float = 60.0,
                 batch: int = 64,
                 open_socket: Callable[[Address], socket.socket] = open_upstream_socket,
                 batched: bool | None = None) -> None:
        """`open_socket` makes a session's upstream socket (tests inject one that fails with EMFILE);
        `batched`: read backlogs with recvmmsg/sendmmsg (None: wherever they are available)."""
        self.upstream = upstream
        self.open_socket = open_socket
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.batch = batch
        self.batched = udp_mmsg.available() if batched is None else batched
        self.sessions: OrderedDict[Address, Session] = OrderedDict()
        self._by_name: dict[bytes, Session] = {}  # the same sessions by raw sender address
        self.sock: socket.socket | None = None
        self.upstream_errors = self.client_errors = 0
        self.sessions_expired = self.sessions_evicted = 0
        self.dropped = 0
        self.packets_up_total = self.packets_down_total = 0
        self._buf = bytearray(MAX_DATAGRAM)
        self._view = memoryview(self._buf)
        self._ring: udp_mmsg.MessageRing | None = None
        self._loop: EpollLoop | None = None
        self._family = socket.AF_INET
        self._client_fd = -1
        self._client_generation = -2
        self._upstream_addr: Address | None = None
        self._resolving = False
        self._parked: list[tuple[bytes, Address]] = []
        self._sweeper: Timer | None = None
        self._errors_seen = 0
        self.fd_exhausted = 0  # sessions evicted because no socket could be opened (EMFILE/ENFILE)
        self._fd_episode = False

    def start(self, loop: EpollLoop, local_addr: tuple[str, int] | None = None, *,
              sock: socket.socket | None = None) -> Address:
        """Bind the client-facing socket (or take `sock`, already bound, e.g. one of several SO_REUSEPORT
        sockets), start reading and sweeping on `loop`; returns the bound address."""
        if sock is None:
            assert local_addr is not None
            sock = _bind(local_addr)
        sock.setblocking(False)
        grow_buffers(sock, CLIENT_BUFFER)
        self._loop, self.sock, self._family, self._client_fd = loop, sock, sock.family, sock.fileno()
        if self.batched:
            self._ring = udp_mmsg.MessageRing(self.batch, sockaddr_len(sock.family))
        loop.add_reader(self._client_fd, self._on_client_readable)
        self._schedule_sweep()
        self._start_resolve()
        return tuple(sock.getsockname())

    @property
    def resolved(self) -> bool:
        """The upstream address is known (datagrams before are parked)."""
        return self._upstream_addr is not None

    # -- client → upstream

    def _on_client_readable(self) -> None:
        loop = self._loop
        assert loop is not None
        backlog = loop.generation - self._client_generation == 1
        self._client_generation = loop.generation
        if backlog and self._ring is not None:
            self._clients_batch(self._ring, loop.now)
            return
        sock = self.sock
        assert sock is not None
        try:
            size, addr = sock.recvfrom_into(self._buf)
        except BlockingIOError:
            return
        except OSError:
            self.client_errors += 1
            return
        session = self.sessions.get(addr)
        if session is None:
            session = self._open(addr, loop.now)
            if session is None:
                self._park(bytes(self._view[:size]), addr)
                return
        stats = session.stats
        stats.packets_up += 1
        stats.bytes_up += size
        stats.last_mono = loop.now
        self.packets_up_total += 1
        try:
            session.sock.send(self._view[:size])
        except BlockingIOError:
            self.dropped += 1
        except OSError:
            self.upstream_errors += 1

    def _clients_batch(self, ring: udp_mmsg.MessageRing, now: float) -> None:
        """One `recvmmsg` from the client socket; each run of datagrams from one client goes to its
        session's socket with one `sendmmsg`."""
        got = ring.recv_clients(self._client_fd)
        if got <= 0:
            if got < 0 and -got not in WOULD_BLOCK:
                self.client_errors += 1
            return
        by_name, lengths, width = self._by_name, ring.client_lengths(got), ring.name_len
        senders = ring.senders(got)
        one_client = senders == senders[:width] * got  # the usual batch: one C comparison, no loop
        start = 0
        while start < got:
            name = senders[start * width:(start + 1) * width]
            end = got if one_client else start + 1
            while end < got and senders[end * width:(end + 1) * width] == name:
                end += 1
            session = by_name.get(name) or self._open(address_of(name), now)
            if session is None:
                for index in range(start, end):
                    self._park(ring.payload(index, lengths[index]), address_of(name))
            else:
                stats = session.stats
                stats.packets_up += end - start
                stats.bytes_up += sum(lengths[start:end])
                stats.last_mono = now
                self.packets_up_total += end - start
                self._send_run(ring.send_up, session.fd, None, start, end, upstream=True)
            start = end
        ring.reset_names(got)

    def forward_up(self, data: bytes, addr: Address) -> None:
        """Relay one datagram from `addr` (outside the fast path: parked datagrams, tests)."""
        assert self._loop is not None
        now = self._loop.now
        session = self.sessions.get(addr) or self._open(addr, now)
        if session is None:
            self._park(data, addr)
            return
        session.stats.packets_up += 1
        session.stats.bytes_up += len(data)
        session.stats.last_mono = now
        self.packets_up_total += 1
        try:
            session.sock.send(data)
        except BlockingIOError:
            self.dropped += 1
        except OSError:
            self.upstream_errors += 1

    # -- upstream → client

    def _on_upstream_readable(self, session: Session) -> None:
        loop = self._loop
        assert loop is not None and self.sock is not None
        backlog = loop.generation - session.generation == 1
        session.generation = loop.generation
        if backlog and self._ring is not None:
            self._upstream_batch(self._ring, session, loop.now)
            return
        try:
            size = session.sock.recv_into(self._buf)
        except BlockingIOError:
            return
        except OSError:  # e.g. ICMP port unreachable reported on the connected socket
            self.upstream_errors += 1
            return
        stats = session.stats
        stats.packets_down += 1
        stats.bytes_down += size
        stats.last_mono = loop.now
        self.packets_down_total += 1
        try:
            self.sock.sendto(self._view[:size], session.client)
        except BlockingIOError:
            self.dropped += 1
        except OSError:
            self.client_errors += 1

    def _upstream_batch(self, ring: udp_mmsg.MessageRing, session: Session, now: float) -> None:
        """One `recvmmsg` from a session's socket, sent on to its client with one `sendmmsg`."""
        got = ring.recv_upstream(session.fd)
        if got <= 0:
            if got < 0 and -got not in WOULD_BLOCK:
                self.upstream_errors += 1
            return
        stats = session.stats
        stats.packets_down += got
        stats.bytes_down += sum(ring.upstream_lengths(got))
        stats.last_mono = now
        self.packets_down_total += got
        self._send_run(ring.send_down, self._client_fd, session.name, 0, got, upstream=False)

    def _send_run(self, send: Callable[..., int], fd: int, name: bytes | None, start: int, end: int, *,
                  upstream: bool) -> None:
        """Slots start…end-1 out with as few `sendmmsg` calls as the kernel allows; a datagram it refuses
        counts as dropped (would block) or as an error of that side, exactly as one `send` each would."""
        while start < end:
            sent = send(fd, start, end - start) if name is None else send(fd, name, start, end - start)
            if sent > 0:
                start += sent
                continue
            if -sent in WOULD_BLOCK:
                self.dropped += 1
            elif upstream:
                self.upstream_errors += 1
            else:
                self.client_errors += 1
            start += 1

    # -- sessions

    def _open(self, client: Address, now: float) -> Session | None:
        if self._upstream_addr is None or self._loop is None:
            self._start_resolve()
            return None
        sock = self._open_socket(client)
        if sock is None:
            return None
        while len(self.sessions) >= self.max_sessions:
            self._drop(next(iter(self.sessions)))
            self.sessions_evicted += 1
        session = Session(client, sock, SessionStats(created_mono=now, last_mono=now),
                          name_of(client, self._family), sock.fileno())
        self.sessions[client] = session
        self._by_name[session.name] = session
        self._loop.add_reader(session.fd, self._on_upstream_readable, session)
        return session

    def _open_socket(self, client: Address) -> socket.socket | None:
        """A new upstream socket; out of file descriptors, the longest-idle session gives up its own (one
        log line per episode), so new clients are never locked out until sessions expire."""
        assert self._upstream_addr is not None
        for _ in range(2):
            try:
                sock = self.open_socket(self._upstream_addr)
            except OSError as exc:
                if exc.errno not in FD_EXHAUSTED or not self.sessions:
                    self.upstream_errors += 1
                    log.event("proxy.udp_upstream_error", client=fmt_address(client), error=str(exc))
                    return None
                if not self._fd_episode:
                    self._fd_episode = True
                    log.event("proxy.udp_fd_exhausted", sessions=len(self.sessions), error=str(exc))
                self._evict_idlest()
                continue
            return sock
        return None

    def _evict_idlest(self) -> None:
        addr = min(self.sessions, key=lambda a: self.sessions[a].stats.last_mono)
        self._drop(addr)
        self.sessions_evicted += 1
        self.fd_exhausted += 1

    def _drop(self, addr: Address) -> None:
        session = self.sessions.pop(addr)
        self._by_name.pop(session.name, None)
        self._close(session)

    def _close(self, session: Session) -> None:
        if self._loop is not None:
            self._loop.remove_reader(session.fd)
        session.sock.close()

    def _park(self, data: bytes, addr: Address) -> None:
        if len(self._parked) < MAX_PARKED:
            self._parked.append((data, addr))
        else:
            self.dropped += 1

    # -- upstream address

    def _start_resolve(self) -> None:
        """Look the upstream up: at once for an address literal, else in a thread (getaddrinfo blocks)
        whose answer comes back through the loop; datagrams meanwhile are parked."""
        if self._loop is None or self._resolving:
            return
        host, port = self.upstream
        try:
            literal = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST)
        except (OSError, UnicodeError):
            literal = []
        if literal:
            self._resolved(tuple(literal[0][4][:2]), None)
            return
        self._resolving = True
        threading.Thread(target=self._resolve_in_thread, name="udp-resolve", daemon=True).start()

    def _resolve_in_thread(self) -> None:
        host, port = self.upstream
        loop = self._loop
        assert loop is not None
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            loop.call_soon_threadsafe(self._resolved, None, exc)
            return
        loop.call_soon_threadsafe(self._resolved, tuple(infos[0][4][:2]), None)

    def _resolved(self, address: Address | None, error: OSError | None) -> None:
        self._resolving = False
        if self.sock is None:  # closed meanwhile
            return
        if address is None:
            host, port = self.upstream
            self.upstream_errors += 1
            log.event("proxy.udp_upstream_error", upstream=f"{host}:{port}", error=str(error))
            self.dropped += len(self._parked)
            self._parked.clear()
            return
        self._upstream_addr = address
        parked, self._parked = self._parked, []
        for data, addr in parked:
            self.forward_up(data, addr)

    # -- housekeeping

    def _schedule_sweep(self) -> None:
        assert self._loop is not None
        interval = max(0.05, min(self.idle_timeout_s / 4, 5.0))
        self._sweeper = self._loop.call_later(interval, self._sweep)

    def _sweep(self) -> None:
        assert self._loop is not None
        self.expire(self._loop.now)
        if self.upstream_errors != self._errors_seen:  # the upstream may have moved: resolve it again
            self._errors_seen = self.upstream_errors
            self._start_resolve()
        if self._fd_episode and len(self.sessions) < self.max_sessions // 2:
            self._fd_episode = False  # the next exhaustion is a new episode, logged again
        if self.sock is not None:
            self._schedule_sweep()

    def expire(self, now: float) -> int:
        """Close sessions idle for longer than the timeout; returns how many."""
        idle = [addr for addr, s in self.sessions.items() if now - s.stats.last_mono > self.idle_timeout_s]
        for addr in idle:
            self._drop(addr)
        self.sessions_expired += len(idle)
        return len(idle)

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for session in self.sessions.values():
            self._close(session)
        self.sessions.clear()
        self._by_name.clear()
        if self.sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._client_fd)
            self.sock.close()
            self.sock = None
        if self._ring is not None:
            self._ring.close()
            self._ring = None

    def counters(self) -> dict[str, int]:
        """The relay's totals (cheap: no per-session list); what the relay processes publish."""
        active = self.sessions.values()
        return {"sessions": len(self.sessions), "sessions_expired": self.sessions_expired,
                "sessions_evicted": self.sessions_evicted, "fd_exhausted": self.fd_exhausted,
                "upstream_errors": self.upstream_errors,
                "client_errors": self.client_errors, "dropped": self.dropped,
                "packets_up_total": self.packets_up_total, "packets_down_total": self.packets_down_total,
                "packets_up_active": sum(s.stats.packets_up for s in active),
                "packets_down_active": sum(s.stats.packets_down for s in active)}

    def per_session(self, limit: int = 100) -> list[dict[str, Any]]:
        return [{"client": fmt_address(addr), "packets_up": s.stats.packets_up,
                 "packets_down": s.stats.packets_down, "bytes_up": s.stats.bytes_up,
                 "bytes_down": s.stats.bytes_down}
                for addr, s in list(self.sessions.items())[:limit]]

    def stats(self) -> dict[str, Any]:
        return {**self.counters(), "per_session": self.per_session()}


def _bind(local_addr: tuple[str, int]) -> socket.socket:
    family, _, _, _, sockaddr = socket.getaddrinfo(local_addr[0], local_addr[1], type=socket.SOCK_DGRAM,
                                                   flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind(sockaddr)
    except OSError:
        sock.close()
        raise
    return sock
