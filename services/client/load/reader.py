"""A minimal HTTP/1.1 response reader for the load generator (sans-IO: bytes in, replies out).

It only finds where each response ends and keeps what `load` reports (status, body size, X-Cache,
whether the server closes): Content-Length, chunked (extensions and trailers skipped), close-delimited
bodies; 1xx responses are skipped, 204/304 have no body. Pipelined responses come out in order. Anything
malformed raises `ReplyError` (counted as a `protocol` error). The full parser in services/common/http1
is the reference: a differential test feeds both the same bytes.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

MAX_HEAD = 64 * 1024
_CRLF2 = b"\r\n\r\n"
_NO_BODY = frozenset({204, 304})


class ReplyError(Exception):
    """The bytes are not a valid HTTP/1.x response stream."""


class Reply(NamedTuple):  # a tuple: built ten times faster than a frozen dataclass, once per response
    status: int
    body_bytes: int
    x_cache: str = ""
    close: bool = False  # the server closes the connection after this response


class _Head(NamedTuple):
    status: int
    length: int  # -1 chunked, -2 until close
    x_cache: str
    close: bool


def _value(head: bytes, lower: bytes, name: bytes) -> bytes | None:
    """The value of the first field `name` (lower-case, with CRLF before and the colon), stripped."""
    start = lower.find(name)
    if start < 0:
        return None
    start += len(name)
    end = head.find(b"\r\n", start)
    return head[start:end if end >= 0 else len(head)].strip()


@functools.lru_cache(maxsize=256)
def parse_head(head: bytes) -> _Head:
    """Status line and the few fields that frame the body (`head` without the final CRLF CRLF).

    Memoised: a server answers a load test with the same head bytes over and over (until its Date
    changes), so most responses cost one hash and a lookup.

    Minimal on purpose (one lower-cased copy, a `find` per field of interest): other field lines are
    not validated, the shared parser does that for the services.
    """
    if not head.startswith(b"HTTP/1.") or head[8:9] != b" " or not head[9:12].isdigit() or \
            head[12:13] not in (b" ", b"\r", b""):
        raise ReplyError(f"bad status line {head[:80]!r}")
    status = int(head[9:12])
    lower = head.lower()
    length = -2
    text = _value(head, lower, b"\r\ncontent-length:")
    if text is not None:
        if not text.isdigit() or not text.isascii() or len(text) > 18:
            raise ReplyError(f"bad Content-Length {text[:40]!r}")
        length = int(text)
        if lower.count(b"\r\ncontent-length:") > 1:
            values = {v.split(b"\r\n", 1)[0].strip() for v in lower.split(b"\r\ncontent-length:")[1:]}
            if len(values) > 1:
                raise ReplyError("conflicting Content-Length fields")
    encoding = _value(head, lower, b"\r\ntransfer-encoding:")
    connection = _value(lower, lower, b"\r\nconnection:")
    x_cache = _value(head, lower, b"\r\nx-cache:")
    close = head[5:8] == b"1.0"
    if connection is not None:
        tokens = {t.strip() for t in connection.split(b",")}
        close = b"close" in tokens or (close and b"keep-alive" not in tokens)
    if status < 200 or status in _NO_BODY:
        length = 0
    elif encoding is not None and encoding.lower().endswith(b"chunked"):
        length = -1
    return _Head(status, length, x_cache.decode("latin-1") if x_cache else "", close or length == -2)


class ReplyReader:
    """Feed bytes as they arrive; `feed` returns the responses completed by them."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._head: _Head | None = None
        self._body = 0  # body bytes counted so far (chunked: payload only)
        self._chunk = 0  # data bytes left in the current chunk
        self._crlf = False  # the CRLF after a chunk's data is still to come
        self._trailers = False

    def feed(self, data: bytes) -> list[Reply]:
        done: list[Reply] = []
        if self._head is None and not self._buf:
            data = self._whole(data, done)  # fast path: complete Content-Length responses, no copies
            if not data:
                return done
        self._buf += data
        while (reply := self._step()) is not None:
            if reply.status >= 200:
                done.append(reply)
        return done

    @staticmethod
    def _whole(data: bytes, done: list[Reply]) -> bytes:
        """Take the complete fixed-length responses at the start of `data`; return the rest."""
        pos, size = 0, len(data)
        while pos < size:
            end = data.find(_CRLF2, pos)
            if end < 0:
                break
            head = parse_head(data[pos:end])
            stop = end + 4 + head.length
            if head.length < 0 or stop > size:
                break
            if head.status >= 200:
                done.append(Reply(head.status, head.length, head.x_cache, head.close))
            pos = stop
        return data[pos:] if pos else data

    def feed_eof(self) -> Reply | None:
        """The connection closed: completes a close-delimited body; ReplyError if one was cut short."""
        head = self._head
        if head is not None and head.length == -2:
            self._head = None
            return Reply(head.status, self._body + len(self._buf), head.x_cache, True)
        if head is not None or self._buf:
            raise ReplyError("connection closed in the middle of a response")
        return None

    @property
    def idle(self) -> bool:
        return self._head is None and not self._buf

    def _step(self) -> Reply | None:
        buf = self._buf
        if self._head is None:
            end = buf.find(_CRLF2)
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise ReplyError("response head too large")
                return None
            self._head = parse_head(bytes(buf[:end]))
            del buf[:end + 4]
            self._body = 0
        head = self._head
        if head.length >= 0:
            if len(buf) < head.length:
                return None
            del buf[:head.length]
            self._head = None
            return Reply(head.status, head.length, head.x_cache, head.close)
        if head.length == -2:
            self._body += len(buf)
            buf.clear()
            return None
        return self._chunked(head)

    def _chunked(self, head: _Head) -> Reply | None:
        buf = self._buf
        while True:
            if self._trailers:
                end = buf.find(b"\r\n")
                if end < 0:
                    return None
                del buf[:end + 2]
                if end == 0:
                    self._trailers, self._head = False, None
                    return Reply(head.status, self._body, head.x_cache, head.close)
                continue
            if self._chunk:
                take = min(self._chunk, len(buf))
                if take == 0:
                    return None
                self._body += take
                self._chunk -= take
                del buf[:take]
                self._crlf = self._chunk == 0
                continue
            if self._crlf:
                if len(buf) < 2:
                    return None
                if buf[:2] != b"\r\n":
                    raise ReplyError("chunk data not followed by CRLF")
                del buf[:2]
                self._crlf = False
                continue
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > 1024:
                    raise ReplyError("chunk size line too long")
                return None
            size_text = bytes(buf[:end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16) if size_text and len(size_text) <= 16 else -1
            except ValueError:
                size = -1
            if size < 0 or not size_text.isascii():
                raise ReplyError(f"bad chunk size {size_text[:40]!r}")
            del buf[:end + 2]
            if size == 0:
                self._trailers = True
            else:
                self._chunk = size
