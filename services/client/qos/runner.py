"""Run one QoS test: open the socket, start the receiver, send on schedule, wait, return the records."""

from __future__ import annotations

import random
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from services.client.family import NoAddress, version
from services.client.qos import metrics
from services.client.qos.config import QosConfig, schedule_ns
from services.client.qos.engine import Collector, open_socket, send_all
from services.client.qos.records import Recorder
from services.common import probe
from services.common.clock import SYSTEM_CLOCK, Clock, SleepingClock
from services.common.inet import format_host_port

MIN_WAIT_S = 1.0


@dataclass
class QosRun:
    """A finished run: its parameters, what was recorded, and the wait that decided loss."""

    config: QosConfig
    test_id: int
    recorder: Recorder
    started_wall_ns: int
    wait_s: float
    ip_version: int | None = None  # 4 or 6: the family of the socket that carried the probes


def default_wait_s(recorder: Recorder) -> float:
    """max(3 × RTT p99 of the replies so far, 1 s) — DESIGN.md section 4."""
    sends = recorder.sends.mono_ns
    rtts = sorted(a.mono_ns - sends[a.seq] for a in list(recorder.arrivals))
    p99_s = metrics.percentile(rtts, 99) / 1e9 if rtts else 0.0
    return max(3 * p99_s, MIN_WAIT_S)


def wait_for_replies(recorder: Recorder, collector: Collector, wait_s: float,
                     clock: Clock = SYSTEM_CLOCK) -> None:
    """Collect up to `wait_s` after the last send; stop early once every probe is answered and quiet."""
    sends = recorder.sends.mono_ns
    deadline = (sends[-1] if sends else clock.mono_ns()) + int(wait_s * 1e9)
    while (now := clock.mono_ns()) < deadline:
        if len(collector.answered) >= len(recorder.sends):
            rtts = [a.mono_ns - sends[a.seq] for a in recorder.arrivals]
            linger_ns = min(int(wait_s * 1e9), max(50_000_000, 2 * max(rtts, default=0)))
            if now - collector.last_arrival_mono_ns >= linger_ns:
                return
        collector.wait(min(0.01, (deadline - now) / 1e9))


def _progress(recorder: Recorder, stream: TextIO, done: threading.Event) -> None:
    while not done.wait(0.5):
        sent = len(recorder.sends)
        got = len({a.seq for a in list(recorder.arrivals)})
        stream.write(f"\r  sent {sent}  received {got}  missing {sent - got}   ")
        stream.flush()
    stream.write("\r" + " " * 60 + "\r")
    stream.flush()


def run_qos(config: QosConfig, clock: SleepingClock = SYSTEM_CLOCK, progress: TextIO | None = None,
            rng: random.Random | None = None, stop: Callable[[], bool] = lambda: False) -> QosRun:
    """Send the probes of `config` and record what came back. Raises OSError if the target is unusable."""
    config.validate()
    rng = rng or random.Random(config.seed)
    test_id = rng.getrandbits(32)
    offsets = schedule_ns(config, rng)
    sock, kernel = open_socket(config)
    ip_version = version(sock.family)
    recorder = Recorder(kernel_timestamps=kernel)
    collector = Collector(sock, recorder, test_id, clock, kernel)
    done = threading.Event()
    painter = None
    if progress is not None:
        painter = threading.Thread(target=_progress, args=(recorder, progress, done), daemon=True)
        painter.start()
    started = clock.wall_ns()
    try:
        send_all(sock, config, test_id, offsets, recorder, clock, stop, collector)
        wait_s = config.wait_s if config.wait_s is not None else default_wait_s(recorder)
        wait_for_replies(recorder, collector, wait_s, clock)
    finally:
        done.set()
        if painter is not None:
            painter.join(timeout=2)
        sock.close()
    return QosRun(config, test_id, recorder, started, wait_s, ip_version)


READY_PROBE_GAP_S = 0.2
READY_REPORT_S = 10.0  # a long wait says so every this often: never a silent stall


def wait_for_echo(config: QosConfig, timeout_s: float, clock: SleepingClock = SYSTEM_CLOCK,
                  report: Callable[[str], None] | None = None) -> bool:
    """Probe the target every 200 ms until a reply to any of them comes back (services just starting).

    One socket for the whole wait, so a reply slower than 200 ms (a satellite path: ~600 ms RTT) still
    arrives where it is read; the socket is only reopened after an error (e.g. ICMP port unreachable).
    Every READY_REPORT_S without a reply, `report` (if given) gets a line saying what is awaited.
    """
    start = clock.mono_ns()
    deadline = start + int(timeout_s * 1e9)
    next_report = start + int(READY_REPORT_S * 1e9)
    test_id = random.getrandbits(32)
    sock: socket.socket | None = None
    seq = 0
    error = ""
    try:
        while (now := clock.mono_ns()) < deadline:
            if report is not None and now >= next_report:
                report(f"qos: no echo reply from {format_host_port(config.host, config.port)} yet: waited "
                       f"{(now - start) / 1e9:.0f} s of {timeout_s:g} s ({seq} probes{error})")
                next_report += int(READY_REPORT_S * 1e9)
            try:
                if sock is None:
                    sock, _ = open_socket(config, rcvbuf_bytes=1 << 16)
                sock.send(probe.encode(probe.Probe(test_id, seq, clock.wall_ns())))
                seq += 1
                if _reply_within(sock, test_id, READY_PROBE_GAP_S):
                    return True
            except NoAddress:  # no address of the family asked for: waiting cannot help
                return False
            except OSError as exc:
                error = f"; last error: {exc}"
                if sock is not None:
                    sock.close()
                    sock = None
                clock.sleep(READY_PROBE_GAP_S)
        return False
    finally:
        if sock is not None:
            sock.close()


def _reply_within(sock: socket.socket, test_id: int, window_s: float) -> bool:
    """True once a reply of `test_id` arrives within `window_s`; other datagrams are skipped."""
    deadline = time.monotonic() + window_s
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65535)
        except TimeoutError:
            return False
        if probe.is_probe(data):
            try:
                if probe.decode(data).test_id == test_id:
                    return True
            except probe.ProbeError:
                pass
    return False


def is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def progress_stream() -> TextIO | None:
    return sys.stdout if is_tty(sys.stdout) else None
