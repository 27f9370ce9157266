"""Structured logs: one line per event, `key=value` pairs, to stdout for `docker compose logs`.

`event("http.request", client="10.0.0.2:5123", status=200)` prints
`ts=2026-11-26T21:30:00.123Z svc=server event=http.request client=10.0.0.2:5123 status=200`.
Values with spaces or quotes are quoted, so every line splits back into pairs with `shlex`.
Set `QOSLAB_LOG_FORMAT=json` for one JSON object per line instead.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO


@dataclass(frozen=True)
class Settings:
    """What `configure` set: read at write time by writers that batch lines (the access log)."""

    service: str = "qoslab"
    stream: TextIO | None = None
    json_lines: bool = os.environ.get("QOSLAB_LOG_FORMAT", "kv").lower() == "json"
    quiet: bool = False


_settings = Settings()
_BARE = re.compile(r'[^ "=\\\t\n]+')
_ts_second = -1
_ts_prefix = ""


def configure(service: str, *, stream: TextIO | None = None, json_lines: bool | None = None,
              quiet: bool = False) -> None:
    """Name the service in every line; optionally redirect, switch to JSON, or silence logs."""
    global _settings
    _settings = Settings(service, stream, _settings.json_lines if json_lines is None else json_lines, quiet)


def current() -> Settings:
    return _settings


def format_value(value: Any) -> str:
    """A value as it appears after `key=`: bare, or JSON-quoted if empty or holding space, quote, `=`, `\\`,
    tab or newline (so `shlex.split` gives the pairs back)."""
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text if _BARE.fullmatch(text) else json.dumps(text, ensure_ascii=False)


def timestamp() -> str:
    """UTC with milliseconds, e.g. 2026-11-26T21:30:00.123Z (the strftime part cached per second)."""
    global _ts_second, _ts_prefix
    now = time.time()
    second = int(now)
    if second != _ts_second:
        _ts_second, _ts_prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return f"{_ts_prefix}.{int(now % 1 * 1000):03d}Z"


def format_line(event_name: str, fields: dict[str, Any], *, service: str, ts: str,
                json_lines: bool = False) -> str:
    """Render one log line (pure: the caller supplies the timestamp)."""
    if json_lines:
        record = {"ts": ts, "svc": service, "event": event_name, **fields}
        return json.dumps(record, default=str, ensure_ascii=False)
    pairs = [f"ts={ts}", f"svc={service}", f"event={event_name}"]
    pairs += [f"{key}={format_value(value)}" for key, value in fields.items()]
    return " ".join(pairs)


def write_lines(lines: Iterable[str]) -> None:
    """Write finished lines with one write and one flush; a closed stdout never takes a service down."""
    text = "".join(line + "\n" for line in lines)
    if not text:
        return
    stream = _settings.stream or sys.stdout
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass


def event(event_name: str, **fields: Any) -> None:
    """Write one structured line for `event_name`."""
    settings = _settings
    if settings.quiet:
        return
    write_lines([format_line(event_name, fields, service=settings.service, ts=timestamp(),
                             json_lines=settings.json_lines)])
