"""The one base exception of netem.vm, with the command and its stderr when a tool failed."""

from __future__ import annotations

from collections.abc import Sequence


class VmError(Exception):
    """A build or boot step failed; `argv`/`stderr` say which tool and what it printed."""

    def __init__(self, message: str, *, argv: Sequence[str] = (), stderr: str = "") -> None:
        super().__init__(message + (f": {stderr.strip()[-2000:]}" if stderr.strip() else ""))
        self.argv = list(argv)
        self.stderr = stderr
