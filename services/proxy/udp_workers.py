"""`--udp-workers N`: N UDP relay processes on one port. Every worker binds its own socket with
SO_REUSEPORT, so the kernel picks the worker by a hash of the datagram's 4-tuple: a client address always
lands on the same worker, and each worker's session table stays correct. Worker 0 is the main process
(HTTP + UDP); workers 1…N-1 are forked before any event loop exists and run only the relay."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from services.common import log
from services.common.listen import Bind, open_sockets, parse_bind

from .udp_counters import PUBLISH_INTERVAL_S, SharedCounters
from .udp_group import RelayGroup
from .udp_relay import UdpRelay


def udp_sockets(bind: str, port: int, count: int) -> list[list[socket.socket]]:
    """For each of `count` workers, non-blocking datagram sockets on every address of `bind`, all on one
    port (SO_REUSEPORT when more than one worker); with port 0 the first picks the port and the others
    join it."""
    reuse = count > 1
    first = open_sockets(parse_bind(bind), port, socket.SOCK_DGRAM, reuse_port=reuse)
    groups = [first.sockets]
    try:
        port = first.sockets[0].getsockname()[1]
        for _ in range(1, count):
            groups.append(open_sockets(Bind(tuple(str(s.getsockname()[0]) for s in first.sockets)), port,
                                       socket.SOCK_DGRAM, reuse_port=True).sockets)
    except OSError:
        for sock in (s for group in groups for s in group):
            sock.close()
        raise
    return groups


async def _relay_worker(relay: RelayGroup, socks: list[socket.socket], counters: SharedCounters,
                        index: int, parent: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await relay.start(socks)
    pid = os.getpid()
    while not stop.is_set():
        counters.publish(index, pid, relay.counters())
        if os.getppid() != parent:  # the main process is gone (even by SIGKILL): do not linger
            break
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PUBLISH_INTERVAL_S):
                await stop.wait()
    counters.publish(index, pid, relay.counters())
    relay.close()


def fork_workers(socks: list[list[socket.socket]], counters: SharedCounters,
                 make_relay: Callable[[], UdpRelay]) -> list[int]:
    """Fork one relay-only process per socket group after the first; returns their pids. Call before any
    event loop or thread exists. Every process keeps only its own sockets."""
    parent = os.getpid()
    children: list[int] = []
    for index in range(1, len(socks)):
        pid = os.fork()
        if pid == 0:  # child: relay until SIGTERM or the parent's death, never return into the caller
            code = 0
            try:
                for other in (s for i, group in enumerate(socks) if i != index for s in group):
                    other.close()
                asyncio.run(_relay_worker(RelayGroup(make_relay), socks[index], counters, index, parent))
            except BaseException:
                code = 1
            os._exit(code)
        children.append(pid)
    for sock in (s for group in socks[1:] for s in group):
        sock.close()
    log.event("proxy.udp_workers", workers=len(socks), pids=",".join(map(str, [os.getpid(), *children])))
    return children


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
