"""Errors of trace files: each names the file and the line (`cell.down:17: …`), like a compiler."""

from __future__ import annotations

from netem.core.errors import SchemaError


class TraceError(SchemaError):
    """A trace or recording is invalid; `line` is 1-based (0 = the file as a whole)."""

    what = "trace"

    def __init__(self, path: str, line: int, key: str, value: object, allowed: str) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}:{line}" if line else path, key, value, allowed)
