"""The batched access log writes exactly the lines `log.format_line` would."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterator

import pytest

from services.common import log
from services.server.access import AccessLog

CASES = [("127.0.0.1:5000", "GET", "/a.html", 200, 1234, 0.123),
         ("[::1]:5", "HEAD", '/q?a="b"=c\\d', 404, 0, 0),
         ("-", "-", "", 408, 10, 12.3456789),
         ("1.2.3.4:1", "GET", "/x y\tz", 500, 7, 1e-05)]


@pytest.fixture(params=[False, True], ids=["kv", "json"])
def stream(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    out = io.StringIO()
    log.configure("server", stream=out, json_lines=request.param)
    yield out
    log.configure("qoslab", stream=None, json_lines=False)


def strip_ts(line: str) -> str:
    return re.sub(r'ts=\S+|"ts": "[^"]+"', "TS", line)


def test_lines_match_format_line(stream: io.StringIO) -> None:
    access = AccessLog()
    for client, method, path, status, size, dur in CASES:
        access.write(client, method, path, status, size, dur)  # no loop: written at once
    json_lines = log.current().json_lines
    expected = [log.format_line("http.access", {"client": c, "method": m, "path": p, "status": s, "bytes": b,
                                                "dur_ms": d}, service="server", ts="T", json_lines=json_lines)
                for c, m, p, s, b, d in CASES]
    assert [strip_ts(line) for line in stream.getvalue().splitlines()] == [strip_ts(e) for e in expected]
    assert re.match(r"ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z |\{\"ts\"", stream.getvalue())


def test_lines_wait_for_the_end_of_the_loop_iteration(stream: io.StringIO) -> None:
    async def scenario() -> tuple[str, str]:
        access = AccessLog()
        access.write(*CASES[0])
        access.write(*CASES[1])
        before = stream.getvalue()
        await asyncio.sleep(0)
        return before, stream.getvalue()

    before, after = asyncio.run(scenario())
    assert before == "" and len(after.splitlines()) == 2
