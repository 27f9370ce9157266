"""UDP relay: datagrams from each client go out through that client's own upstream socket, replies come
back to the right client. Bounded session table with idle expiry, counters per session, no threads.

Fast path: the client socket and every session socket are non-blocking and registered with
`loop.add_reader`. On Linux one readiness event reads up to `batch` datagrams with one `recvmmsg` into
preallocated slots (`udp_mmsg.MessageRing`) and forwards each run of datagrams of one session with one
`sendmmsg` (payloads never become Python objects; the session is found by the raw sender address).
Elsewhere each datagram is one `recvfrom_into` + `send`. A send that would block is counted as a drop
(UDP semantics), never queued and never waited for, so a slow client only loses its own datagrams.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from services.common import log

from . import udp_mmsg
from .udp_session import (
    Address,
    Session,
    SessionStats,
    address_of,
    fmt_address,
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
                 clock: Callable[[], float] = time.monotonic, batch: int = 64,
                 open_socket: Callable[[Address], socket.socket] = open_upstream_socket,
                 batched: bool | None = None) -> None:
        """`open_socket` makes a session's upstream socket (tests inject one that fails with EMFILE);
        `batched`: use recvmmsg/sendmmsg (None: wherever they are available)."""
        self.upstream = upstream
        self.open_socket = open_socket
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock
        self.batch = batch
        self.sessions: OrderedDict[Address, Session] = OrderedDict()
        self._by_name: dict[bytes, Session] = {}  # the same sessions by raw sender address
        self.batched = udp_mmsg.available() if batched is None else batched
        self._ring: udp_mmsg.MessageRing | None = None
        self._family = socket.AF_INET
        self._client_fd = -1
        self.sock: socket.socket | None = None
        self.upstream_errors = self.client_errors = 0
        self.sessions_expired = self.sessions_evicted = 0
        self.dropped = 0
        self.packets_up_total = self.packets_down_total = 0
        self._buf = bytearray(MAX_DATAGRAM)
        self._view = memoryview(self._buf)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._upstream_addr: Address | None = None
        self._resolving: asyncio.Task[None] | None = None
        self._parked: list[tuple[bytes, Address]] = []
        self._sweeper: asyncio.TimerHandle | None = None
        self._errors_seen = 0
        self.fd_exhausted = 0  # sessions evicted because no socket could be opened (EMFILE/ENFILE)
        self._fd_episode = False

    async def start(self, local_addr: tuple[str, int] | None = None, *,
                    sock: socket.socket | None = None) -> Address:
        """Bind the client-facing socket (or take `sock`, already bound, e.g. one of several SO_REUSEPORT
        sockets), start reading and sweeping; returns the bound address."""
        loop = asyncio.get_running_loop()
        if sock is None:
            assert local_addr is not None
            sock = await _bind(loop, local_addr)
        sock.setblocking(False)
        self._loop, self.sock, self._family, self._client_fd = loop, sock, sock.family, sock.fileno()
        if self.batched:
            self._ring = udp_mmsg.MessageRing(self.batch, sockaddr_len(sock.family))
            loop.add_reader(self._client_fd, self._on_clients_batch, self._client_fd)
        else:
            loop.add_reader(sock.fileno(), self._on_client_readable)
        self._schedule_sweep()
        self._start_resolve()
        return tuple(sock.getsockname())

    def _on_clients_batch(self, fd: int) -> None:
        """One `recvmmsg` from the client socket; each run of datagrams from one client goes to its
        session's socket with one `sendmmsg`."""
        ring = self._ring
        assert ring is not None
        got = ring.recv_clients(fd)
        if got <= 0:
            if got < 0 and -got not in WOULD_BLOCK:
                self.client_errors += 1
            return
        now, by_name, lengths = self.clock(), self._by_name, ring.client_lengths(got)
        start = 0
        while start < got:
            name = ring.name(start)
            end = start + 1
            while end < got and ring.name(end) == name:
                end += 1
            session = by_name.get(name) or self._open(address_of(name), now)
            if session is None:
                for index in range(start, end):
                    offset = index * ring.slot_bytes
                    self._park(bytes(ring.payloads[offset:offset + lengths[index]]), address_of(name))
            else:
                stats = session.stats
                stats.packets_up += end - start
                stats.bytes_up += sum(lengths[start:end])
                stats.last_mono = now
                self.packets_up_total += end - start
                self._send_run(ring.send_up, session.fd, None, start, end, upstream=True)
            start = end
        ring.reset_names(got)

    def _on_upstream_batch(self, session: Session) -> None:
        """One `recvmmsg` from a session's socket, sent on to its client with one `sendmmsg`."""
        ring = self._ring
        assert ring is not None and self.sock is not None
        got = ring.recv_upstream(session.fd)
        if got <= 0:
            if got < 0 and -got not in WOULD_BLOCK:  # e.g. ICMP port unreachable on the connected socket
                self.upstream_errors += 1
            return
        stats = session.stats
        stats.packets_down += got
        stats.bytes_down += sum(ring.upstream_lengths(got))
        stats.last_mono = self.clock()
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

    def _on_client_readable(self) -> None:
        sock, buf, view, sessions = self.sock, self._buf, self._view, self.sessions
        assert sock is not None
        now = self.clock()
        count = 0
        for _ in range(self.batch):
            try:
                size, addr = sock.recvfrom_into(buf)
            except BlockingIOError:
                break
            except OSError:
                self.client_errors += 1
                continue
            session = sessions.get(addr)
            if session is None:
                session = self._open(addr, now)
                if session is None:
                    self._park(bytes(view[:size]), addr)
                    continue
            stats = session.stats
            stats.packets_up += 1
            stats.bytes_up += size
            stats.last_mono = now
            count += 1
            try:
                session.sock.send(view[:size])
            except BlockingIOError:
                self.dropped += 1
            except OSError:
                self.upstream_errors += 1
        self.packets_up_total += count

    def _on_upstream_readable(self, session: Session) -> None:  # one datagram per call (no recvmmsg)
        out, upstream, buf, view = self.sock, session.sock, self._buf, self._view
        assert out is not None
        client = session.client
        count = nbytes = 0
        for _ in range(self.batch):
            try:
                size = upstream.recv_into(buf)
            except BlockingIOError:
                break
            except OSError:  # e.g. ICMP port unreachable reported on the connected socket
                self.upstream_errors += 1
                break
            count += 1
            nbytes += size
            try:
                out.sendto(view[:size], client)
            except BlockingIOError:
                self.dropped += 1
            except OSError:
                self.client_errors += 1
        if count:
            stats = session.stats
            stats.packets_down += count
            stats.bytes_down += nbytes
            stats.last_mono = self.clock()
            self.packets_down_total += count

    def forward_up(self, data: bytes, addr: Address) -> None:
        """Relay one datagram from `addr` (outside the fast path: parked datagrams, tests)."""
        session = self.sessions.get(addr) or self._open(addr, self.clock())
        if session is None:
            self._park(data, addr)
            return
        session.stats.packets_up += 1
        session.stats.bytes_up += len(data)
        session.stats.last_mono = self.clock()
        self.packets_up_total += 1
        try:
            session.sock.send(data)
        except BlockingIOError:
            self.dropped += 1
        except OSError:
            self.upstream_errors += 1

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
        reader = self._on_upstream_batch if self._ring is not None else self._on_upstream_readable
        self._loop.add_reader(session.fd, reader, session)
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

    async def ready(self) -> None:
        """Until the first resolution of the upstream address has finished (datagrams before are parked)."""
        if self._resolving is not None:
            await asyncio.shield(self._resolving)

    def _park(self, data: bytes, addr: Address) -> None:
        if len(self._parked) < MAX_PARKED:
            self._parked.append((data, addr))
        else:
            self.dropped += 1

    def _start_resolve(self) -> None:
        if self._loop is not None and (self._resolving is None or self._resolving.done()):
            self._resolving = self._loop.create_task(self._resolve())

    async def _resolve(self) -> None:
        assert self._loop is not None
        host, port = self.upstream
        try:
            infos = await self._loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            self.upstream_errors += 1
            log.event("proxy.udp_upstream_error", upstream=f"{host}:{port}", error=str(exc))
            self.dropped += len(self._parked)
            self._parked.clear()
            return
        self._upstream_addr = tuple(infos[0][4][:2])
        parked, self._parked = self._parked, []
        for data, addr in parked:
            self.forward_up(data, addr)

    def _drop(self, addr: Address) -> None:
        session = self.sessions.pop(addr)
        self._by_name.pop(session.name, None)
        self._close(session)

    def _close(self, session: Session) -> None:
        if self._loop is not None:
            self._loop.remove_reader(session.sock.fileno())
        session.sock.close()

    def _schedule_sweep(self) -> None:
        assert self._loop is not None
        interval = max(0.05, min(self.idle_timeout_s / 4, 5.0))
        self._sweeper = self._loop.call_later(interval, self._sweep)

    def _sweep(self) -> None:
        self.expire(self.clock())
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
        if self._resolving is not None:
            self._resolving.cancel()
        for session in self.sessions.values():
            self._close(session)
        self.sessions.clear()
        self._by_name.clear()
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        if self.sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None

    def counters(self) -> dict[str, int]:
        """The relay's totals (cheap: no per-session list); what `--udp-workers` processes publish."""
        active = self.sessions.values()
        return {"sessions": len(self.sessions), "sessions_expired": self.sessions_expired,
                "sessions_evicted": self.sessions_evicted, "fd_exhausted": self.fd_exhausted,
                "upstream_errors": self.upstream_errors,
                "client_errors": self.client_errors, "dropped": self.dropped,
                "packets_up_total": self.packets_up_total, "packets_down_total": self.packets_down_total,
                "packets_up_active": sum(s.stats.packets_up for s in active),
                "packets_down_active": sum(s.stats.packets_down for s in active)}

    def stats(self) -> dict[str, Any]:
        return {**self.counters(),
                "per_session": [{"client": fmt_address(addr), "packets_up": s.stats.packets_up,
                                 "packets_down": s.stats.packets_down, "bytes_up": s.stats.bytes_up,
                                 "bytes_down": s.stats.bytes_down}
                                for addr, s in list(self.sessions.items())[:100]]}


async def _bind(loop: asyncio.AbstractEventLoop, local_addr: tuple[str, int]) -> socket.socket:
    infos = await loop.getaddrinfo(local_addr[0], local_addr[1], type=socket.SOCK_DGRAM,
                                   flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind(sockaddr)
    except OSError:
        sock.close()
        raise
    return sock
