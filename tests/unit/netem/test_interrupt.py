"""A long-running command stops on SIGINT or SIGTERM even where SIGINT came in ignored (a background job of
a non-interactive shell: `netem capture edge &` then `kill -INT $!`; likewise `netem.vm run`). Signals go to
this process only, raised in its main thread (`signal.raise_signal`); nothing sleeps."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from netem.commands import capture, capture_run
from netem.tools.interrupt import interruptible
from netem.vm.host import boot, build
from netem.vm.host import cli as vm_cli


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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_vm_run_stops_on_either_signal_with_its_cleanup_done(
        inherited_ignored: None, monkeypatch: pytest.MonkeyPatch, sig: signal.Signals) -> None:
    """`python -m netem.vm run … &` in a script, then `kill -INT $!` or `kill $!`: the boot's `finally`
    (QEMU killed, its ~500 MB work directory removed) runs and the command exits 130. Before, SIGINT was
    ignored and the VM ran on; SIGTERM ended Python at once and left the work directory in /tmp."""
    seen = {"went_on": False, "cleaned_up": False}

    def boot_run(image: object, command: list[str], **kwargs: Any) -> boot.BootResult:
        try:
            signal.raise_signal(sig)
            seen["went_on"] = True
            return boot.BootResult(0, 1.0, 1.0)
        finally:
            seen["cleaned_up"] = True

    monkeypatch.setattr(build, "build", lambda **kwargs: object())
    monkeypatch.setattr(boot, "run", boot_run)
    assert vm_cli.main(["run", "--", "true"]) == 130
    assert seen == {"went_on": False, "cleaned_up": True}
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
