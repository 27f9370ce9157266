"""A long-running command stops on SIGINT or SIGTERM even where SIGINT came in ignored (a background job of
a non-interactive shell: `netem capture edge &` then `kill -INT $!`). Signals go to this process only, raised
in its main thread (`signal.raise_signal`); nothing sleeps."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from netem.commands import capture, capture_run
from netem.commands.interrupt import interruptible


@pytest.fixture
def inherited_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM as a background job of `sh` would have them: ignored."""
    before = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_either_signal_interrupts_the_block_and_the_inherited_handler_comes_back(
        inherited_ignored: None, sig: signal.Signals) -> None:
    with pytest.raises(KeyboardInterrupt), interruptible():
        signal.raise_signal(sig)
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    signal.raise_signal(sig)  # ignored again: nothing happens


@dataclass
class WaitingCapture:
    """Stands for tcpdump until the count is reached: `kill -INT` arrives while the capture waits."""

    path: Path
    went_on: bool = False  # the wait carried on after the signal: nothing stopped it
    stopped: bool = False
    returncode: int | None = None
    calls: list[str] = field(default_factory=list)

    def wait(self) -> int:
        signal.raise_signal(signal.SIGINT)
        self.went_on = True
        return 0

    def stop(self) -> capture.CaptureResult:
        self.stopped, self.returncode = True, -signal.SIGINT
        return capture.CaptureResult(self.path, 3, 0)

    def tail(self) -> str:
        return ""


def test_kill_int_stops_a_capture_started_with_sigint_ignored(
        inherited_ignored: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = WaitingCapture(tmp_path / "edge.pcap")

    def start(*args: Any, **kwargs: Any) -> WaitingCapture:
        return fake

    monkeypatch.setattr(capture_run, "start", start)
    said: list[str] = []
    done = capture_run.run("qoslab", capture.make_spec("edge", output=str(fake.path)), repo=tmp_path,
                           report=said.append)
    assert not fake.went_on and fake.stopped
    assert done == capture.CaptureResult(fake.path, 3, 0)
    assert "(Ctrl-C stops)" in said[0]
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
