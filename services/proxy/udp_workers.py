"""The UDP relay runs in processes of its own (`--udp-workers N`, at least one), away from the HTTP event
loop: a cache hit or a slow client in the main process never delays a QoS probe, and each relay process
runs `udp_loop.EpollLoop`, which costs a datagram far less than asyncio's loop.

Every relay serves its own socket: N per address of `--bind` (`any`: IPv4 and IPv6, so a relay serves one
family), all SO_REUSEPORT on one port (`udp_session.bind_shared`), so the kernel picks the process by a
hash of the datagram's 4-tuple: a client address always lands on the same process, and each session table
stays correct. The processes are forked before any event loop or thread exists. The main process reads
their counters from shared memory (`udp_counters`), asking each for a fresh snapshot first (a byte over a
socketpair, answered from the relay's loop), so what `/_proxy/stats` reports is exact when it is read."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from services.common import log
from services.common.listen import format_addresses

from .udp_counters import PUBLISH_INTERVAL_S, SharedCounters
from .udp_loop import EpollLoop
from .udp_relay import UdpRelay

ASK_TIMEOUT_S = 0.05  # how long the main process waits for fresh counters before using the last ones
_SEQ = struct.Struct("<I")


def serve_relay(relay: UdpRelay, sock: socket.socket, counters: SharedCounters, index: int, parent: int,
                control: socket.socket) -> None:
    """A relay process's whole life: relay on `sock` until SIGTERM/SIGINT or the parent's death, publishing
    counters every `PUBLISH_INTERVAL_S` and whenever the main process asks on `control`."""
    loop = EpollLoop()
    pid = os.getpid()

    def publish(rows: bool = False) -> None:
        counters.publish(index, pid, relay.counters(), relay.per_session() if rows else None)

    def answer() -> None:
        seq = b""
        with contextlib.suppress(BlockingIOError, OSError):
            while True:
                seq = control.recv(16) or seq
        if seq:
            publish(rows=True)
            with contextlib.suppress(OSError):
                control.send(seq)

    def tick() -> None:
        publish()
        if os.getppid() != parent:  # the main process is gone (even by SIGKILL): do not linger
            loop.stop()
            return
        loop.call_later(PUBLISH_INTERVAL_S, tick)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    control.setblocking(False)
    loop.add_reader(control.fileno(), answer)
    relay.start(loop, sock=sock)
    publish(rows=True)
    loop.call_later(PUBLISH_INTERVAL_S, tick)
    try:
        loop.run()
    finally:
        publish(rows=True)
        relay.close()
        loop.close()


class RelayProcesses:
    """The main process's handle on its relay processes: where they listen, their counters, stopping."""

    def __init__(self, socks: list[socket.socket], make_relay: Callable[[], UdpRelay]) -> None:
        """Fork one relay process per socket (call before any event loop or thread exists); this process
        keeps none of the sockets."""
        self.sockname: tuple[Any, ...] = tuple(socks[0].getsockname())
        self.address = format_addresses(list({s.getsockname()[:2]: s for s in socks}.values()))  # per address
        self.counters = SharedCounters(len(socks))
        self.pids: list[int] = []
        self._controls: list[socket.socket] = []
        self._seq = 0
        parent = os.getpid()
        for index, sock in enumerate(socks):
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            pid = os.fork()
            if pid == 0:  # child: relay until told to stop, never return into the caller
                code = 0
                try:
                    ours.close()
                    for other in (*socks, *self._controls):
                        if other is not sock:
                            other.close()
                    serve_relay(make_relay(), sock, self.counters, index, parent, theirs)
                except BaseException:
                    code = 1
                os._exit(code)
            theirs.close()
            ours.setblocking(False)
            self._controls.append(ours)
            self.pids.append(pid)
        for sock in socks:
            sock.close()
        log.event("proxy.udp_workers", workers=len(socks), pids=",".join(map(str, [parent, *self.pids])))

    def stats(self) -> dict[str, Any]:
        """Every relay's counters, fresh: each is asked to publish and answers within microseconds; one
        that does not answer within `ASK_TIMEOUT_S` is reported as last published (its `age_s` shows)."""
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        want = _SEQ.pack(self._seq)
        waiting = {}
        for sock in self._controls:
            _drain(sock)
            with contextlib.suppress(OSError):
                sock.send(want)
                waiting[sock.fileno()] = sock
        poller = select.poll()
        for fd in waiting:
            poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + ASK_TIMEOUT_S
        while waiting and (left := deadline - time.monotonic()) > 0:
            for fd, _ in poller.poll(left * 1000):
                if _drain(waiting[fd]) == want:
                    poller.unregister(fd)
                    del waiting[fd]
        return self.counters.aggregate()

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM every relay and reap it (SIGKILL after `timeout_s`), so none outlives the main process."""
        stop_workers(self.pids, timeout_s)
        for sock in self._controls:
            sock.close()
        self._controls.clear()


def _drain(sock: socket.socket) -> bytes:
    """Read what is waiting on a control socket; the last message (b"" if none)."""
    last = b""
    with contextlib.suppress(BlockingIOError, OSError):
        while True:
            last = sock.recv(16)
    return last


def stop_workers(children: list[int], timeout_s: float = 5.0) -> None:
    """SIGTERM every worker and reap it (SIGKILL after `timeout_s`), so none outlives the main process."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in children:
        if not _reap(pid, timeout_s):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _reap(pid, None)


def _reap(pid: int, timeout_s: float | None) -> bool:
    """Wait for `pid` to exit (forever with None); False if it is still running after `timeout_s`."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        try:
            done, _ = os.waitpid(pid, 0 if deadline is None else os.WNOHANG)
        except ChildProcessError:
            return True
        if done:
            return True
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def relay_factory(upstream: tuple[str, int], **kwargs: Any) -> Callable[[], UdpRelay]:
    return lambda: UdpRelay(upstream, **kwargs)
