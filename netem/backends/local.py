"""Local backend: run tc/ip with subprocess, optionally inside a network namespace."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from netem.core.engine import CommandResult


@dataclass(frozen=True)
class LocalRunner:
    """Runs argv on this host (`netns=None`) or via `ip netns exec NETNS`; bounded by `timeout_s`."""

    netns: str | None = None
    timeout_s: float = 10.0

    def run(self, argv: Sequence[str]) -> CommandResult:
        full = ["ip", "netns", "exec", self.netns, *argv] if self.netns else list(argv)
        try:
            done = subprocess.run(full, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except FileNotFoundError as exc:
            return CommandResult(127, "", f"{full[0]}: not found ({exc.strerror})")
        except subprocess.TimeoutExpired:
            return CommandResult(124, "", f"timed out after {self.timeout_s:g}s: {' '.join(full)}")
        return CommandResult(done.returncode, done.stdout, done.stderr)
