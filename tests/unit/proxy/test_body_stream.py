"""The upload pass-through's body stream: which bodies stream, the window that holds the client back,
the end, and an early close that drops what still arrives."""

from __future__ import annotations

import asyncio

from services.common.http1 import CHUNKED
from services.proxy.body import STREAM_FROM_BYTES, BodyStream, streams


def test_which_bodies_stream() -> None:
    assert streams(False, STREAM_FROM_BYTES + 1)
    assert not streams(False, STREAM_FROM_BYTES)  # small: read whole, sent with its head in one write
    assert not streams(True, 10 * STREAM_FROM_BYTES)  # a GET/HEAD body is dropped, never forwarded
    assert not streams(False, 0) and not streams(False, CHUNKED)  # read whole, sent with a Content-Length


def test_the_window_holds_the_client_back_until_half_is_gone() -> None:
    holds: list[bool] = []
    stream = BodyStream(400, holds.append, window=250)

    async def main() -> list[bytes | None]:
        for _ in range(4):
            stream.feed(b"x" * 100)
        assert holds == [True] and stream.held == 400  # crossed at the third piece
        taken = [await stream.next(), await stream.next()]
        assert holds == [True] and stream.held == 200  # above half the window
        taken.append(await stream.next())
        assert holds == [True, False] and stream.held == 100
        stream.end()
        return [*taken, await stream.next(), await stream.next()]

    taken = asyncio.run(main())
    assert taken == [b"x" * 100] * 4 + [None]


def test_next_waits_for_a_piece_or_the_end() -> None:
    stream = BodyStream(10, lambda hold: None)

    async def main() -> list[bytes | None]:
        waiting = asyncio.ensure_future(stream.next())
        await asyncio.sleep(0)
        assert not waiting.done()
        stream.feed(b"abc")
        first = await waiting
        later = asyncio.ensure_future(stream.next())
        await asyncio.sleep(0)
        stream.end()
        return [first, await later]

    assert asyncio.run(main()) == [b"abc", None]


def test_close_drops_the_rest_and_lets_the_client_read_again() -> None:
    holds: list[bool] = []
    stream = BodyStream(1000, holds.append, window=100)
    stream.feed(b"y" * 200)
    stream.close()
    stream.feed(b"z" * 50)  # still arriving after an early answer: dropped
    assert holds == [True, False] and stream.held == 0
    assert asyncio.run(stream.next()) is None
