"""A minimal event loop for the UDP relay processes: `select.epoll`, readers, timers, thread wake-ups and
signals, nothing else. asyncio's loop costs a relayed datagram more than nginx's whole hop (its selector
wrapper, handle objects, the ready queue, the scheduler's bookkeeping per iteration); here one readiness
event is one dict lookup and one call. `generation` counts the polls, so a reader can tell whether its
socket was also ready in the previous one (a backlog: read in batches) or not (one datagram: read it
alone, at the lowest latency)."""

from __future__ import annotations

import contextlib
import functools
import heapq
import select
import signal
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

Callback = Callable[..., object]


class Timer:
    """What `call_later` returns; `cancel()` before it is due and it never runs."""

    __slots__ = ("cancelled", "run")

    def __init__(self, run: Callable[[], object]) -> None:
        self.run = run
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class EpollLoop:
    """`add_reader`/`remove_reader`, `call_later`, `call_soon_threadsafe`, `add_signal_handler` (the same
    names as asyncio's, so the relay reads alike), `run_once`, `run` until `stop`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.now = clock()  # as of the last poll's return
        self.generation = 0
        self._epoll = select.epoll()
        self._readers: dict[int, Callable[[], object]] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self._soon: deque[Callable[[], object]] = deque()
        self._wake_r, self._wake_w = socket.socketpair()
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        self.add_reader(self._wake_r.fileno(), self._drain_wakeups)
        self._stopped = False
        self._signals: dict[int, Callable[[], object]] = {}

    def add_reader(self, fd: int, callback: Callback, *args: Any) -> None:
        call = functools.partial(callback, *args) if args else callback
        if fd in self._readers:
            self._epoll.modify(fd, select.EPOLLIN)
        else:
            self._epoll.register(fd, select.EPOLLIN)
        self._readers[fd] = call

    def remove_reader(self, fd: int) -> bool:
        if self._readers.pop(fd, None) is None:
            return False
        with contextlib.suppress(OSError, ValueError):  # already closed: epoll forgot it by itself
            self._epoll.unregister(fd)
        return True

    def call_later(self, delay_s: float, callback: Callback, *args: Any) -> Timer:
        timer = Timer(functools.partial(callback, *args) if args else callback)
        self._seq += 1
        heapq.heappush(self._timers, (self.now + delay_s, self._seq, timer))
        return timer

    def call_soon_threadsafe(self, callback: Callback, *args: Any) -> None:
        """From any thread (or a signal handler): run `callback` in the loop's next iteration."""
        self._soon.append(functools.partial(callback, *args) if args else callback)
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def add_signal_handler(self, sig: int, callback: Callback) -> None:
        """`callback` runs in the loop (not inside the handler) when `sig` arrives."""
        self._signals[sig] = callback
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(sig, self._on_signal)

    def _on_signal(self, sig: int, _frame: object) -> None:
        self._soon.append(self._signals[sig])

    def _drain_wakeups(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while self._wake_r.recv(4096):
                pass

    def run_once(self, timeout_s: float | None = None) -> None:
        """One poll (at most `timeout_s`, None = until something happens), its readers, then due timers
        and queued callbacks. `now` is read once per poll: readers and timers use it."""
        timers, soon = self._timers, self._soon
        if soon:
            timeout_s = 0.0
        elif timers:
            due = max(0.0, timers[0][0] - self.now)
            timeout_s = due if timeout_s is None else min(timeout_s, due)
        events = self._epoll.poll(-1 if timeout_s is None else timeout_s)
        self.now = now = self.clock()
        self.generation += 1
        readers = self._readers
        for fd, _ in events:
            call = readers.get(fd)
            if call is not None:
                call()
        while timers and timers[0][0] <= now:
            timer = heapq.heappop(timers)[2]
            if not timer.cancelled:
                timer.run()
        while soon:
            soon.popleft()()

    def run(self) -> None:
        """Until `stop()` (from a callback, a signal handler added here, or another thread via
        `call_soon_threadsafe(loop.stop)`). The same steps as `run_once`, inlined: this loop is on the
        path of every relayed datagram."""
        self._stopped = False
        timers, soon, poll, clock = self._timers, self._soon, self._epoll.poll, self.clock
        pop, get = heapq.heappop, self._readers.get
        now = self.now
        while not self._stopped:
            if soon:
                timeout_s = 0.0
            elif timers:
                timeout_s = timers[0][0] - now
                if timeout_s < 0.0:
                    timeout_s = 0.0
            else:
                timeout_s = -1.0
            events = poll(timeout_s)
            self.now = now = clock()
            self.generation += 1
            for fd, _ in events:
                call = get(fd)
                if call is not None:
                    call()
            while timers and timers[0][0] <= now:
                timer = pop(timers)[2]
                if not timer.cancelled:
                    timer.run()
            while soon:
                soon.popleft()()

    def run_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Run until `done()` or `timeout_s` passed (tests and start-up); returns `done()`."""
        deadline = self.clock() + timeout_s
        while not done():
            self.now = self.clock()
            left = deadline - self.now
            if left <= 0:
                break
            self.run_once(min(left, 0.05))
        return done()

    def stop(self) -> None:
        self._stopped = True

    def close(self) -> None:
        for sig in self._signals:
            signal.signal(sig, signal.SIG_DFL)
        if self._signals:
            signal.set_wakeup_fd(-1)
        self._signals.clear()
        self._readers.clear()
        self._epoll.close()
        self._wake_r.close()
        self._wake_w.close()

