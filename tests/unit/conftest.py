"""Unit tests never wait for real: `time.sleep` and `asyncio.sleep` with a positive delay fail the test
(waits go through an injected clock or fake sleep; `asyncio.sleep(0)`, one turn of the loop, is fine).
`pytest.fail` raises past `except Exception`, so a handler in the code under test cannot hide the wait.
Each test starts from the same log settings, whatever ran before it in its process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from services.common import log

_asyncio_sleep = asyncio.sleep


@pytest.fixture(autouse=True)
def no_real_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(seconds: float) -> None:
        if seconds > 0:
            pytest.fail(f"real time.sleep({seconds}) in a unit test")

    def refuse_async(delay: float, result: Any = None) -> Coroutine[Any, Any, Any]:
        if delay > 0:
            pytest.fail(f"real asyncio.sleep({delay}) in a unit test")
        return _asyncio_sleep(0, result)

    monkeypatch.setattr(time, "sleep", refuse)
    monkeypatch.setattr(asyncio, "sleep", refuse_async)


@pytest.fixture(autouse=True)
def log_settings_restored() -> Iterator[None]:
    """A test that runs a CLI's `main` leaves the log configured (its service, the stream pytest captured for
    it): put back, so a test reading log lines from its own stdout passes whichever tests ran before it in
    its process (an xdist worker runs another subset, in another order, than a serial run)."""
    saved = log.current()
    yield
    log.configure(saved.service, stream=saved.stream, json_lines=saved.json_lines, quiet=saved.quiet)
