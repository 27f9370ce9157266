"""Sans-IO HTTP/1.1 parsers (RFC 9112): bytes in with `feed`, events out with `next_event`.

Header blocks are parsed whole (one `find` for the blank line, one `split`), bodies are sliced, so the
cost per request is a handful of C calls. Hostile input raises `HTTPError` carrying the status to answer.
"""

from __future__ import annotations

import re
from collections import deque

from ._fields import content_length, parse_fields
from .errors import HTTPError
from .events import Data, EndOfMessage, Request, Response
from .headers import Headers
from .validate import CHUNKED, Limits, parse_request_head

__all__ = ["Limits", "ParsedEvent", "RequestParser", "ResponseParser"]

_STATUS_LINE = re.compile(rb"HTTP/1\.([0-9]) ([0-9]{3})(?: ([\t \x21-\x7e\x80-\xff]*+))?")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*+(?:;[^\x00-\x08\x0a-\x1f\x7f]*+)?")
_MAX_CHUNK_LINE = 4096

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _CLOSE, _CLOSED = range(8)

ParsedEvent = Request | Response | Data | EndOfMessage


class _Parser:
    """Framing shared by both directions; subclasses parse the start line and choose the body framing."""

    _status = 400

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._buf = bytearray()
        self._state = _HEAD
        self._remaining = 0
        self._body_seen = 0
        self._eof = False
        self._error: HTTPError | None = None
        # where the searches for the end of a head (or trailer section) and of its first line resume, so
        # a head that arrives in many small pieces is scanned once, not once per piece (linear, not n²)
        self._scan = 0
        self._line_scan = 0

    def feed(self, data: bytes) -> None:
        if not self._eof:
            self._buf += data

    def feed_eof(self) -> None:
        self._eof = True

    @property
    def buffered(self) -> int:
        """Bytes received but not yet turned into events."""
        return len(self._buf)

    @property
    def idle(self) -> bool:
        """Between messages with nothing buffered: the next bytes start a new head."""
        return self._state == _HEAD and not self._buf and self._error is None and not self._eof

    def next_event(self) -> ParsedEvent | None:
        """The next event, or None when more bytes are needed."""
        if self._error is not None:
            raise self._error
        try:
            return self._step()
        except HTTPError as exc:
            self._error = exc
            raise

    def _fail(self, status: int, message: str) -> HTTPError:
        return HTTPError(status, message)

    def _step(self) -> ParsedEvent | None:
        state = self._state
        if state == _HEAD:
            return self._head() if self._buf else None
        if state == _LENGTH:
            return self._length_body()
        if state == _CLOSE:
            return self._close_body()
        if state == _CLOSED:
            return None
        return self._chunked()

    # -- head -------------------------------------------------------------------------------------
    def _head(self) -> ParsedEvent | None:
        buf = self._buf
        if buf[:2] == b"\r\n":
            while buf[:2] == b"\r\n":
                del buf[:2]
            self._scan = self._line_scan = 0
        end = buf.find(b"\r\n\r\n", self._scan)
        if end < 0:
            self._scan = max(0, len(buf) - 3)
            self._check_partial_head()
            return None
        self._scan = self._line_scan = 0
        head = bytes(buf[: end + 4])
        del buf[: end + 4]
        return self._complete_head(head)

    def _complete_head(self, head: bytes) -> ParsedEvent:
        """One head through its blank line → the start event; sets the body framing."""
        raise NotImplementedError

    def _check_partial_head(self) -> None:
        buf = self._buf
        line_end = buf.find(b"\r\n", self._line_scan)
        self._line_scan = line_end if line_end >= 0 else max(0, len(buf) - 1)
        if line_end < 0:
            if len(buf) > self.limits.max_request_line:
                raise self._fail(414, "request line too long")
        elif line_end > self.limits.max_request_line:
            raise self._fail(414, "request line too long")
        elif len(buf) - line_end > self.limits.max_header_bytes + 4:
            raise self._fail(431, "header section too large")
        if self._eof and buf:
            raise self._fail(400, "connection closed inside a message head")

    def _message_done(self) -> EndOfMessage:
        self._state = _HEAD
        return EndOfMessage()

    # -- bodies -----------------------------------------------------------------------------------
    def _set_length(self, length: int) -> None:
        self._state = _LENGTH
        self._remaining = length

    def _length_body(self) -> ParsedEvent | None:
        if self._remaining == 0:
            return self._message_done()
        buf = self._buf
        if not buf:
            if self._eof:
                raise self._fail(400, "connection closed inside a body")
            return None
        take = min(len(buf), self._remaining)
        data = bytes(buf[:take])
        del buf[:take]
        self._remaining -= take
        return Data(data)

    def _close_body(self) -> ParsedEvent | None:
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            return Data(data)
        if self._eof:
            self._state = _CLOSED
            return EndOfMessage()
        return None

    def _chunked(self) -> ParsedEvent | None:
        state = self._state
        if state == _CHUNK_SIZE:
            return self._chunk_size()
        if state == _CHUNK_DATA:
            return self._chunk_data()
        if state == _CHUNK_END:
            return self._chunk_end()
        return self._trailers()

    def _need_more(self, what: str) -> None:
        if self._eof:
            raise self._fail(400, f"connection closed inside {what}")

    def _chunk_size(self) -> ParsedEvent | None:
        buf = self._buf
        end = buf.find(b"\r\n")
        if end < 0:
            if len(buf) > _MAX_CHUNK_LINE:
                raise self._fail(400, "chunk size line too long")
            self._need_more("a chunk size line")
            return None
        found = _CHUNK_LINE.fullmatch(bytes(buf[:end]))
        if found is None:
            raise self._fail(400, "invalid chunk size line")
        del buf[: end + 2]
        size = int(found.group(1), 16)
        if size == 0:
            self._state = _TRAILERS
            return self._trailers()
        self._body_seen += size
        self._check_body_size(self._body_seen)
        self._state = _CHUNK_DATA
        self._remaining = size
        return self._chunk_data()

    def _check_body_size(self, size: int) -> None:
        """Request parsers enforce `max_body`; response parsers do not."""

    def _chunk_data(self) -> ParsedEvent | None:
        buf = self._buf
        if not buf:
            self._need_more("a chunk")
            return None
        take = min(len(buf), self._remaining)
        data = bytes(buf[:take])
        del buf[:take]
        self._remaining -= take
        if self._remaining == 0:
            self._state = _CHUNK_END
        return Data(data)

    def _chunk_end(self) -> ParsedEvent | None:
        buf = self._buf
        if len(buf) < 2:
            if bytes(buf[:1]) not in (b"", b"\r"):
                raise self._fail(400, "missing CRLF after chunk data")
            self._need_more("a chunk")
            return None
        if buf[:2] != b"\r\n":
            raise self._fail(400, "missing CRLF after chunk data")
        del buf[:2]
        self._state = _CHUNK_SIZE
        return self._chunk_size()

    def _trailers(self) -> ParsedEvent | None:
        buf = self._buf
        if buf[:2] == b"\r\n":
            del buf[:2]
            return self._message_done()
        end = buf.find(b"\r\n\r\n", self._scan)
        if end < 0:
            self._scan = max(0, len(buf) - 3)
            if len(buf) > self.limits.max_header_bytes:
                raise self._fail(431, "trailer section too large")
            self._need_more("the trailer section")
            return None
        self._scan = 0
        if end > self.limits.max_header_bytes:
            raise self._fail(431, "trailer section too large")
        lines = bytes(buf[:end]).split(b"\r\n")
        del buf[: end + 4]
        if len(lines) > self.limits.max_headers:
            raise self._fail(431, "too many trailer fields")
        trailers = parse_fields(lines, self._status)
        self._state = _HEAD
        return EndOfMessage(trailers)


class RequestParser(_Parser):
    """Parses requests a client sends; pipelined requests come out one after another.

    Each complete head goes through `validate.parse_request_head`, the check fast paths share."""

    declared = 0  # the body the last head announced: its Content-Length (0 without one), or CHUNKED

    def _complete_head(self, head: bytes) -> ParsedEvent:
        parsed = parse_request_head(head, self.limits)
        self.declared = parsed.body_length
        if parsed.body_length == CHUNKED:
            self._state = _CHUNK_SIZE
            self._body_seen = 0
        else:
            self._set_length(parsed.body_length)
        return parsed.request

    def _check_body_size(self, size: int) -> None:
        if size > self.limits.max_body:
            raise HTTPError(413, "request body too large")


class ResponseParser(_Parser):
    """Parses responses; call `expect(method)` once per request sent so HEAD responses have no body."""

    _status = 502

    def __init__(self, limits: Limits | None = None) -> None:
        super().__init__(limits)
        self._methods: deque[str] = deque()

    def expect(self, method: str) -> None:
        self._methods.append(method.upper())

    def _fail(self, status: int, message: str) -> HTTPError:
        return HTTPError(502, message)

    def _complete_head(self, head: bytes) -> ParsedEvent:
        end = len(head) - 4
        line_end = head.find(b"\r\n")
        if line_end > self.limits.max_request_line:
            raise self._fail(414, "status line too long")
        if end - line_end > self.limits.max_header_bytes:
            raise self._fail(431, "header section too large")
        lines = head[:end].split(b"\r\n")
        if len(lines) - 1 > self.limits.max_headers:
            raise self._fail(431, "too many header fields")
        return self._start(lines[0], parse_fields(lines[1:], 502))

    def _start(self, line: bytes, headers: Headers) -> ParsedEvent:
        found = _STATUS_LINE.fullmatch(line)
        if found is None:
            raise HTTPError(502, "invalid status line")
        status = int(found.group(2))
        version = "HTTP/1.0" if found.group(1) == b"0" else "HTTP/1.1"
        reason = (found.group(3) or b"").decode("latin-1")
        method = self._methods[0] if self._methods else "GET"
        if status < 200:
            self._state = _HEAD  # interim: the final response for the same request follows
            return Response(status, reason, version, headers)
        if self._methods:
            self._methods.popleft()
        if method == "HEAD" or status in (204, 304) or (method == "CONNECT" and status < 300):
            self._set_length(0)
        else:
            self._framing(headers, version)
        return Response(status, reason, version, headers)

    def _framing(self, headers: Headers, version: str) -> None:
        """Pick the body framing from Transfer-Encoding / Content-Length (RFC 9112 §6.3)."""
        names = headers._lower
        if "transfer-encoding" in names:
            if "content-length" in names:
                raise self._fail(400, "both Transfer-Encoding and Content-Length")
            codings = headers.get_tokens("transfer-encoding")
            if codings and codings[-1] == "chunked":
                self._state = _CHUNK_SIZE
                self._body_seen = 0
            else:
                self._state = _CLOSE  # any other final coding: the body runs until close
        elif "content-length" in names:
            self._set_length(content_length(headers.get_all("content-length"), 502))
        else:
            self._state = _CLOSE
