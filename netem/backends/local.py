"""Local backend: run tc/ip with subprocess, optionally inside a network namespace."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from netem.core.command import CommandResult, stdin_batch


@dataclass(frozen=True)
class LocalRunner:
    """Runs argv on this host (`netns=None`) or via `ip netns exec NETNS`; bounded by `timeout_s`."""

    netns: str | None = None
    timeout_s: float = 10.0

    def run(self, argv: Sequence[str], stdin: str | None = None) -> CommandResult:
        return run_bounded(["ip", "netns", "exec", self.netns, *argv] if self.netns else list(argv),
                           self.timeout_s, stdin)

    def run_batch(self, argvs: Sequence[Sequence[str]]) -> list[CommandResult]:
        """tc argvs as one `tc -force -batch -` (`netem.core.command.BatchRunner`)."""
        return stdin_batch(self.run, argvs)


@dataclass(frozen=True)
class NsenterRunner:
    """Runs argv on this host inside the network namespace at `path` (a container's: Docker's
    SandboxKey). One process per command (or per batch of tc commands) and no `docker exec`:
    milliseconds where an exec costs a second natively and several under emulation. Needs root and the
    host's nsenter and tc."""

    path: str
    timeout_s: float = 10.0

    def run(self, argv: Sequence[str], stdin: str | None = None) -> CommandResult:
        return run_bounded(["nsenter", f"--net={self.path}", "--", *argv], self.timeout_s, stdin)

    def run_batch(self, argvs: Sequence[Sequence[str]]) -> list[CommandResult]:
        """tc argvs as one nsenter + `tc -force -batch -` (`netem.core.command.BatchRunner`)."""
        return stdin_batch(self.run, argvs)


def run_bounded(full: list[str], timeout_s: float, stdin: str | None = None) -> CommandResult:
    try:
        done = subprocess.run(full, capture_output=True, text=True, timeout=timeout_s, check=False,
                              input=stdin)
    except FileNotFoundError as exc:
        return CommandResult(127, "", f"{full[0]}: not found ({exc.strerror})")
    except subprocess.TimeoutExpired:
        return CommandResult(124, "", f"timed out after {timeout_s:g}s: {' '.join(full)}")
    return CommandResult(done.returncode, done.stdout, done.stderr)
