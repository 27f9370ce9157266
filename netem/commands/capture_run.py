"""Run a capture (the I/O shell of `netem.commands.capture`): find the link end, start tcpdump there,
stop it cleanly."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from netem.commands.capture import (
    CaptureError,
    CaptureResult,
    CaptureSpec,
    default_path,
    is_listening,
    parse_summary,
    results_dir,
    tcpdump_argv,
)

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


def locate(project: str, link: str, side: str) -> tuple[str, int, str]:
    """(container name, its init pid on the host, interface on `link`) of the running `side` container."""
    from netem.backends import docker_backend  # imports docker

    targets, _ = docker_backend.discover(project, link, side)
    target = targets[0]
    runner = target.runner
    if not isinstance(runner, docker_backend.DockerRunner):
        raise CaptureError(f"{target.label}: not a container")
    runner.container.reload()
    pid = int(runner.container.attrs["State"]["Pid"])
    if pid <= 0:
        raise CaptureError(f"{target.service} is not running (no pid)")
    return target.service, pid, target.dev


def check_tools() -> None:
    for tool, package in (("nsenter", "util-linux"), ("tcpdump", "tcpdump")):
        if shutil.which(tool) is None:
            raise CaptureError(f"{tool} not found on this host (apt-get install {package})")
    if os.geteuid() != 0:
        raise CaptureError("capturing enters the container's network namespace, which needs root "
                           "(run it with sudo)")


class RunningCapture:
    """One tcpdump process; `stop()` ends it with SIGINT so the pcap is complete, and reads its counts."""

    def __init__(self, argv: list[str], path: Path) -> None:
        self.path = path
        self.lines: list[str] = []
        self._ready: queue.Queue[bool] = queue.Queue()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        self._reader = threading.Thread(target=self._pump, args=(self.proc.stderr,), daemon=True)
        self._reader.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))
            if is_listening(line):
                self._ready.put(True)
        self._ready.put(False)

    def wait_listening(self, timeout_s: float = START_TIMEOUT_S) -> None:
        try:
            ready = self._ready.get(timeout=timeout_s)
        except queue.Empty:
            ready = False
        if not ready:
            self.stop()
            self.path.unlink(missing_ok=True)
            raise CaptureError(f"tcpdump did not start capturing within {timeout_s:g} s",
                               "\n".join(self.lines[-5:]))

    def stop(self, settle_s: float = 0.2) -> CaptureResult:
        """Let tcpdump take what just crossed the link (`settle_s`), then end it with SIGINT."""
        if self.proc.poll() is None:
            time.sleep(settle_s)
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return parse_summary(self.path, "\n".join(self.lines))


def start(project: str, spec: CaptureSpec, path: Path) -> RunningCapture:
    """tcpdump running on the end `spec` names, once it reports that it is listening."""
    check_tools()
    _, pid, dev = locate(project, spec.link, spec.side)
    path.parent.mkdir(parents=True, exist_ok=True)
    capture = RunningCapture(tcpdump_argv(pid, dev, path, spec.count, spec.bpf), path)
    capture.wait_listening()
    return capture


@contextlib.contextmanager
def capturing(project: str, spec: CaptureSpec, path: Path) -> Iterator[RunningCapture]:
    """Capture while the body runs; stopped (file complete) on the way out, errors included."""
    capture = start(project, spec, path)
    try:
        yield capture
    finally:
        capture.stop()


def run(project: str, spec: CaptureSpec, *, repo: Path, report: Callable[[str], None],
        sleep: Callable[[float], None] = time.sleep) -> CaptureResult:
    """The CLI: until the duration is over, the count is reached, or Ctrl-C."""
    path = spec.output or default_path(results_dir(repo=repo), spec.link, spec.side, time.time())
    capture = start(project, spec, path)
    report(f"capturing {spec.link} at {spec.side} into {path}"
           + (f" for {spec.duration_s:g} s" if spec.duration_s else "")
           + (f" until {spec.count} packets" if spec.count else "")
           + ("" if spec.duration_s or spec.count else " (Ctrl-C stops)"))
    try:
        if spec.duration_s is not None:
            sleep(spec.duration_s)
        else:
            capture.proc.wait()
    except KeyboardInterrupt:
        pass
    result = capture.stop()
    if capture.proc.returncode not in (0, -signal.SIGINT) and not path.exists():
        raise CaptureError(f"tcpdump exited {capture.proc.returncode}", "\n".join(capture.lines[-5:]))
    return result
