"""Log lines are one event each and split back into key=value pairs."""

from __future__ import annotations

import io
import json
import shlex

from services.common import log


def test_key_value_line_round_trips_through_shlex() -> None:
    line = log.format_line("http.request", {"path": "/a b", "status": 200, "ratio": 0.123456789,
                                             "note": 'say "hi"'}, service="server", ts="T")
    pairs = dict(item.split("=", 1) for item in shlex.split(line))
    assert pairs == {"ts": "T", "svc": "server", "event": "http.request", "path": "/a b",
                     "status": "200", "ratio": "0.123457", "note": 'say "hi"'}


def test_json_lines() -> None:
    line = log.format_line("udp.echo", {"packets": 3}, service="server", ts="T", json_lines=True)
    assert json.loads(line) == {"ts": "T", "svc": "server", "event": "udp.echo", "packets": 3}


def test_event_writes_one_line_to_the_configured_stream() -> None:
    stream = io.StringIO()
    log.configure("proxy", stream=stream, json_lines=False)
    try:
        log.event("proxy.listening", http="127.0.0.1:41234")
    finally:
        log.configure("qoslab")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert " svc=proxy event=proxy.listening http=127.0.0.1:41234" in lines[0]
