"""Ctrl-C, `kill -INT` and `kill` stop a long-running command the same way, however it was started.

A command started in the background by a non-interactive shell (`python -m netem capture edge &` in a CI
script) inherits SIGINT ignored, and Python then leaves it ignored: `kill -INT $!` did nothing and the
capture ran on (the fresh-clone CI of da8105d, whose test run was such a background job: the capture's
main thread still waiting on tcpdump 30 s after the signal). Like tcpdump, which sets its own handlers
whatever it inherited, these commands take both signals as KeyboardInterrupt while they wait, and stop
cleanly (the pcap complete, what `apply --steps` applied cleared, the VM's QEMU killed and its work
directory removed).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt inside the block; the previous handlers come back after.
    Outside the main thread (where Python cannot set handlers) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
