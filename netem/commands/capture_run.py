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
from typing import IO, Any

from netem.backends.local import NsenterRunner
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
from netem.commands.capture_container import ContainerCapture
from netem.core.engine import Runner
from netem.tools.interrupt import interruptible

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


VIAS = ("auto", "host", "container")
CAPTURE_IMAGE_ENV = "NETEM_HELPER_IMAGE"  # the controller image, which carries tcpdump


def locate(client: Any, project: str, link: str, side: str) -> tuple[Any, Runner, str]:
    """(the running `side` container, the runner the controller would use there, interface on `link`)."""
    from netem.backends import docker_backend  # imports docker

    targets, _ = docker_backend.discover(project, link, side, client)
    target = targets[0]
    return client.containers.get(target.service), target.runner, target.dev


def host_namespace(container: Any, runner: Runner) -> int | str:
    """The container's network namespace as this host sees it: a namespace file or its init pid."""
    if isinstance(runner, NsenterRunner):
        return runner.path
    container.reload()
    pid = int(container.attrs["State"]["Pid"])
    if pid <= 0:
        raise CaptureError(f"{container.name} is not running (no pid)")
    return pid


def host_tools() -> bool:
    return all(shutil.which(tool) for tool in ("nsenter", "tcpdump")) and os.geteuid() == 0


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

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def wait(self) -> int:
        """Until tcpdump ends by itself (`--count` reached)."""
        return self.proc.wait()

    def tail(self) -> str:
        return "\n".join(self.lines[-5:])

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


Capture = RunningCapture | ContainerCapture


def start(project: str, spec: CaptureSpec, path: Path, via: str = "auto") -> Capture:
    """tcpdump running on the end `spec` names, once it reports that it is listening: the host's
    (`via=host`; `auto` where root, the tools and the namespace are here), else a sidecar's."""
    if via not in VIAS:
        raise CaptureError(f"--via {via!r}: expected one of {', '.join(VIAS)}")
    if via == "host":
        check_tools()
    import docker
    from netem.backends.docker_backend import HELPER_IMAGE

    client = docker.from_env()  # type: ignore[attr-defined]
    try:
        container, runner, dev = locate(client, project, spec.link, spec.side)
        if via == "host" or (via == "auto" and host_tools() and isinstance(runner, NsenterRunner)):
            path.parent.mkdir(parents=True, exist_ok=True)
            argv = tcpdump_argv(host_namespace(container, runner), dev, path, spec.count, spec.bpf)
            capture: Capture = RunningCapture(argv, path)
        else:
            image = os.environ.get(CAPTURE_IMAGE_ENV) or HELPER_IMAGE
            capture = ContainerCapture(client, image, container, dev, path, spec.count, spec.bpf)
            client = None  # the sidecar's now: closed when it is removed
    finally:
        if client is not None:
            client.close()
    capture.wait_listening(START_TIMEOUT_S)
    return capture


@contextlib.contextmanager
def capturing(project: str, spec: CaptureSpec, path: Path, via: str = "auto") -> Iterator[Capture]:
    """Capture while the body runs; stopped (file complete) on the way out, errors included."""
    capture = start(project, spec, path, via)
    try:
        yield capture
    finally:
        capture.stop()


def run(project: str, spec: CaptureSpec, *, repo: Path, report: Callable[[str], None],
        sleep: Callable[[float], None] = time.sleep, via: str = "auto") -> CaptureResult:
    """The CLI: until the duration is over, the count is reached, or Ctrl-C."""
    path = spec.output or default_path(results_dir(repo=repo), spec.link, spec.side, time.time())
    capture = start(project, spec, path, via)
    report(f"capturing {spec.link} at {spec.side} into {path}"
           + (f" for {spec.duration_s:g} s" if spec.duration_s else "")
           + (f" until {spec.count} packets" if spec.count else "")
           + ("" if spec.duration_s or spec.count else " (Ctrl-C stops)"))
    try:
        with interruptible():  # `kill -INT` stops it even where SIGINT came in ignored (a background job)
            if spec.duration_s is not None:
                sleep(spec.duration_s)
            else:
                capture.wait()
    except KeyboardInterrupt:
        pass
    result = capture.stop()
    if capture.returncode not in (0, -signal.SIGINT) and not path.exists():
        raise CaptureError(f"tcpdump exited {capture.returncode}", capture.tail())
    return result
