"""Structured logs: one line per event, `key=value` pairs, to stdout for `docker compose logs`.

`event("http.request", client="10.0.0.2:5123", status=200)` prints
`ts=2026-11-26T21:30:00.123Z svc=server event=http.request client=10.0.0.2:5123 status=200`.
Values with spaces or quotes are quoted, so every line splits back into pairs with `shlex`.
Set `QOSLAB_LOG_FORMAT=json` for one JSON object per line instead.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, TextIO

_service = "qoslab"
_stream: TextIO | None = None
_json = os.environ.get("QOSLAB_LOG_FORMAT", "kv").lower() == "json"
_quiet = False


def configure(service: str, *, stream: TextIO | None = None, json_lines: bool | None = None,
              quiet: bool = False) -> None:
    """Name the service in every line; optionally redirect, switch to JSON, or silence logs."""
    global _service, _stream, _json, _quiet
    _service = service
    _stream = stream
    if json_lines is not None:
        _json = json_lines
    _quiet = quiet


def _format_value(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    if text == "" or any(ch in text for ch in ' "=\\\t\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


def _timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def format_line(event_name: str, fields: dict[str, Any], *, service: str, ts: str,
                json_lines: bool = False) -> str:
    """Render one log line (pure: the caller supplies the timestamp)."""
    if json_lines:
        record = {"ts": ts, "svc": service, "event": event_name, **fields}
        return json.dumps(record, default=str, ensure_ascii=False)
    pairs = [f"ts={ts}", f"svc={service}", f"event={event_name}"]
    pairs += [f"{key}={_format_value(value)}" for key, value in fields.items()]
    return " ".join(pairs)


def event(event_name: str, **fields: Any) -> None:
    """Write one structured line for `event_name`."""
    if _quiet:
        return
    stream = _stream or sys.stdout
    line = format_line(event_name, fields, service=_service, ts=_timestamp(), json_lines=_json)
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass  # a closed stdout must never take a service down
