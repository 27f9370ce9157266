"""UDP relay: datagrams from each client go out through that client's own upstream socket, replies come
back to the right client. Bounded session table with idle expiry, counters per session, no queues.

It runs on an `udp_loop.EpollLoop` (its own process in the proxy, `udp_workers.py`). Every socket is
non-blocking and a reader of the loop. A client's first datagram arrives on the shared socket; its session
gets an upstream socket and, for the first `reply_sockets` sessions, a reply socket: the relay's own address
connected to the client (`udp_session.open_reply_socket`). The kernel then hands that client's datagrams
to the reply socket, and the session's two sockets relay to each other with `recv_into` and `send`, no
address converted to Python and back (a third of a hop's interpreter time). Sessions beyond that bound use
the shared socket both ways (`recvfrom_into`, `sendto`): every datagram for the shared socket makes the
kernel look through the port's connected sockets, so their number stays small.

A socket that was not ready in the loop's previous poll has one datagram waiting as a rule (a probe, a
ping-pong): it is read with one call and sent on with one, the least work per hop. A socket that was ready
in the previous poll too has a backlog: one `recvmmsg` reads up to `batch` datagrams into preallocated slots
(`udp_mmsg.MessageRing`) and each run of one session goes on with one `sendmmsg` (payloads never become
Python objects; on the shared socket the session is found by the raw sender address). Without recvmmsg
(not Linux) every read is the one-datagram kind. The readers of a session's sockets are closures over
what a datagram touches, so a hop looks up no attribute it can avoid.

A send that would block is counted as a drop (UDP semantics), never queued and never waited for, so a slow
client only loses its own datagrams. Counters are exact on every path: a datagram read is counted once, to
its session, and a datagram the kernel refuses is counted as dropped or as an error of its side; totals
are those of the sessions open plus those closed. Order is kept: a new reply socket is read only after the
shared socket was found empty once it was connected, so no datagram the client sent before overtakes one
sent after.
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
    REPLY_SOCKETS,
    Address,
    Session,
    address_of,
    bind_shared,
    fmt_address,
    grow_buffers,
    name_of,
    open_reply_socket,
    open_upstream_socket,
    sockaddr_len,
)

MAX_DATAGRAM = 65535
SETTLE_READS = 256  # shared-socket reads per turn while new reply sockets wait for it to be empty
MAX_PARKED = 256
FD_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE})
WOULD_BLOCK = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})


class UdpRelay:
    """The client-facing socket of the relay and its session table."""

    def __init__(self, upstream: tuple[str, int], *, max_sessions: int = 4096, idle_timeout_s: float = 60.0,
                 batch: int = 64,
                 open_socket: Callable[[Address], socket.socket] = open_upstream_socket,
                 batched: bool | None = None, reply_sockets: int = REPLY_SOCKETS) -> None:
        """`open_socket` makes a session's upstream socket (tests inject one that fails with EMFILE);
        `batched`: read backlogs with recvmmsg/sendmmsg (None: wherever they are available);
        `reply_sockets`: how many sessions at most get a reply socket of their own (0: none)."""
        self.upstream = upstream
        self.open_socket = open_socket
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.batch = batch
        self.batched = udp_mmsg.available() if batched is None else batched
        self.reply_sockets = reply_sockets
        self.sessions: OrderedDict[Address, Session] = OrderedDict()
        self._by_name: dict[bytes, Session] = {}  # the same sessions by raw sender address
        self.sock: socket.socket | None = None
        self.upstream_errors = self.client_errors = 0
        self.sessions_expired = self.sessions_evicted = 0
        self.dropped = 0
        self._closed_up = self._closed_down = 0  # datagrams of sessions no longer open
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
        self._replying = 0  # sessions with a reply socket
        self._unsettled: list[Session] = []  # their reply sockets, not read until the shared one is empty

    def start(self, loop: EpollLoop, local_addr: tuple[str, int] | None = None, *,
              sock: socket.socket | None = None) -> Address:
        """Bind the client-facing socket (or take `sock`, already bound, e.g. one of several SO_REUSEPORT
        sockets), start reading and sweeping on `loop`; returns the bound address. Reply sockets need
        SO_REUSEPORT on it (`udp_session.bind_shared` sets it); without, every session uses it."""
        if sock is None:
            assert local_addr is not None
            sock = bind_shared(local_addr[0], local_addr[1], 1)[0]
        sock.setblocking(False)
        grow_buffers(sock, CLIENT_BUFFER)
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT):
            self.reply_sockets = 0
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

    @property
    def packets_up_total(self) -> int:
        return self._closed_up + sum(s.packets_up for s in self.sessions.values())

    @property
    def packets_down_total(self) -> int:
        return self._closed_down + sum(s.packets_down for s in self.sessions.values())

    # -- client → upstream, on the shared socket (first datagrams; sessions without a reply socket)

    def _on_client_readable(self) -> None:
        loop = self._loop
        assert loop is not None
        backlog = loop.generation - self._client_generation == 1
        self._client_generation = loop.generation
        if backlog and self._ring is not None:
            self._clients_batch(self._ring, loop.now)
        else:
            self._shared_one(loop.now)
        if self._unsettled:
            self._settle()

    def _shared_one(self, now: float) -> bool:
        """Relay one datagram from the shared socket; False when none was waiting."""
        sock = self.sock
        assert sock is not None
        try:
            size, addr = sock.recvfrom_into(self._buf)
        except BlockingIOError:
            return False
        except OSError:
            self.client_errors += 1
            return True
        session = self.sessions.get(addr)
        if session is None:
            session = self._open(addr, now)
            if session is None:
                self._park(bytes(self._view[:size]), addr)
                return True
        session.packets_up += 1
        session.bytes_up += size
        session.last_mono = now
        try:
            session.sock.send(self._view[:size])
        except BlockingIOError:
            self.dropped += 1
        except OSError:
            self.upstream_errors += 1
        return True

    def _settle(self) -> None:
        """Start reading the new reply sockets once the shared socket is found empty after their connect:
        what their clients sent before it is relayed first (order kept). Under a flood of new clients this
        waits for a later turn rather than reading the shared socket without end."""
        assert self._loop is not None
        now = self._loop.now
        for _ in range(SETTLE_READS):
            if not self._shared_one(now):
                break
        else:
            if self._shared_waiting():
                return  # the loop's epoll is level-triggered: the shared socket's reader comes back
        for session in self._unsettled:
            self._loop.add_reader(session.reply_fd, self._reader(session, up=True))
        self._unsettled.clear()

    def _shared_waiting(self) -> bool:
        """A datagram waits on the shared socket (peeked, not read)."""
        assert self.sock is not None
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except OSError:
            return True  # an error waits: the next read reports it
        return True

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
                session.packets_up += end - start
                session.bytes_up += sum(lengths[start:end])
                session.last_mono = now
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
        session.packets_up += 1
        session.bytes_up += len(data)
        session.last_mono = now
        try:
            session.sock.send(data)
        except BlockingIOError:
            self.dropped += 1
        except OSError:
            self.upstream_errors += 1

    # -- a session's own sockets: the hot path

    def _reader(self, session: Session, *, up: bool) -> Callable[[], None]:
        """The reader of one of `session`'s sockets: `up`, its reply socket (the client's datagrams, on to
        the upstream socket); else its upstream socket (replies, on to the client: through the reply
        socket, or addressed, through the shared socket). One datagram with `recv_into` and `send`; a
        socket that was ready in the previous poll too has a backlog, read by `_batch`."""
        loop, buf, view, ring = self._loop, self._buf, self._view, self._ring
        assert loop is not None and self.sock is not None
        source = session.reply if up else session.sock
        assert source is not None
        recv_into = source.recv_into
        out = session.sock if up else session.reply
        send = None if out is None else out.send  # None: replies leave through the shared socket
        sendto, dest = self.sock.sendto, session.client

        def hop() -> None:
            generation = loop.generation
            if up:
                backlog, session.up_generation = generation - session.up_generation == 1, generation
            else:
                backlog, session.generation = generation - session.generation == 1, generation
            if backlog and ring is not None:
                self._batch(ring, session, up=up)
                return
            try:
                size = recv_into(buf)
            except BlockingIOError:
                return
            except OSError:  # e.g. ICMP port unreachable from the other end, reported on a connected socket
                self._error(upstream=not up)
                return
            if up:
                session.packets_up += 1
                session.bytes_up += size
            else:
                session.packets_down += 1
                session.bytes_down += size
            session.last_mono = loop.now
            try:
                if send is not None:
                    send(view[:size])
                else:
                    sendto(view[:size], dest)
            except BlockingIOError:
                self.dropped += 1
            except OSError:
                self._error(upstream=up)

        return hop

    def _batch(self, ring: udp_mmsg.MessageRing, session: Session, *, up: bool) -> None:
        """One `recvmmsg` from a session's reply socket (`up`) or upstream socket, sent on with one
        `sendmmsg` (or as few as the kernel allows)."""
        assert self._loop is not None
        got = ring.recv_connected(session.reply_fd if up else session.fd)
        if got <= 0:
            if got < 0 and -got not in WOULD_BLOCK:
                self._error(upstream=not up)
            return
        size = sum(ring.connected_lengths(got))
        if up:
            session.packets_up += got
            session.bytes_up += size
        else:
            session.packets_down += got
            session.bytes_down += size
        session.last_mono = self._loop.now
        if up or session.reply is not None:
            self._send_run(ring.send_connected, session.fd if up else session.reply_fd, None, 0, got,
                           upstream=up)
        else:
            self._send_run(ring.send_down, self._client_fd, session.name, 0, got, upstream=False)

    def _error(self, *, upstream: bool) -> None:
        if upstream:
            self.upstream_errors += 1
        else:
            self.client_errors += 1

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
            else:
                self._error(upstream=upstream)
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
        session = Session(client, sock, name_of(client, self._family), sock.fileno(), created_mono=now,
                          last_mono=now)
        self._give_reply_socket(session)
        self.sessions[client] = session
        self._by_name[session.name] = session
        self._loop.add_reader(session.fd, self._reader(session, up=False))
        return session

    def _give_reply_socket(self, session: Session) -> None:
        """A reply socket for the session while fewer than `reply_sockets` have one; its reader starts once
        the shared socket is empty (`_settle`). Without one (none left, or no descriptor) the session uses
        the shared socket, which works the same, only at a higher cost per datagram."""
        if self._replying >= self.reply_sockets or self.sock is None:
            return
        try:
            reply = open_reply_socket(self.sock, session.client)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:  # the shared socket cannot be joined: never try again
                self.reply_sockets = 0
            return
        session.reply, session.reply_fd = reply, reply.fileno()
        self._replying += 1
        self._unsettled.append(session)

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
        addr = min(self.sessions, key=lambda a: self.sessions[a].last_mono)
        self._drop(addr)
        self.sessions_evicted += 1
        self.fd_exhausted += 1

    def _drop(self, addr: Address) -> None:
        session = self.sessions.pop(addr)
        self._by_name.pop(session.name, None)
        self._close(session)

    def _close(self, session: Session) -> None:
        self._closed_up += session.packets_up
        self._closed_down += session.packets_down
        if self._loop is not None:
            self._loop.remove_reader(session.fd)
        session.sock.close()
        if session.reply is not None:
            if self._loop is not None:
                self._loop.remove_reader(session.reply_fd)
            if session in self._unsettled:
                self._unsettled.remove(session)
            session.reply.close()
            session.reply = None
            self._replying -= 1

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
        idle = [addr for addr, s in self.sessions.items() if now - s.last_mono > self.idle_timeout_s]
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
        up, down = sum(s.packets_up for s in active), sum(s.packets_down for s in active)
        return {"sessions": len(self.sessions), "sessions_expired": self.sessions_expired,
                "sessions_evicted": self.sessions_evicted, "fd_exhausted": self.fd_exhausted,
                "upstream_errors": self.upstream_errors,
                "client_errors": self.client_errors, "dropped": self.dropped,
                "packets_up_total": self._closed_up + up, "packets_down_total": self._closed_down + down,
                "packets_up_active": up, "packets_down_active": down}

    def per_session(self, limit: int = 100) -> list[dict[str, Any]]:
        return [{"client": fmt_address(addr), "packets_up": s.packets_up, "packets_down": s.packets_down,
                 "bytes_up": s.bytes_up, "bytes_down": s.bytes_down}
                for addr, s in list(self.sessions.items())[:limit]]

    def stats(self) -> dict[str, Any]:
        return {**self.counters(), "per_session": self.per_session()}
