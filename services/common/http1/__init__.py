"""Sans-IO HTTP/1.1 (RFC 9110/9112) shared by server, proxy and client: bytes in, events out.

    parser = RequestParser()
    parser.feed(data)
    while (event := parser.next_event()) is not None:
        ...  # Request, Data..., EndOfMessage, then the next pipelined Request

Every parse error is an `HTTPError` whose `status_code` is the status to answer with.
`version` fields are the wire token ("HTTP/1.1" or "HTTP/1.0").
A fast path that answers from raw bytes calls `check_request_head` (the parser's own head validation).
Numbers from header values go through `parse_decimal` (ASCII digits only, bounded length).
"""

from .errors import HTTPError
from .events import Data, EndOfMessage, Event, Request, Response
from .headers import Headers
from .numbers import OWS, parse_decimal
from .parser import Limits, RequestParser, ResponseParser
from .validate import CHUNKED, RequestHead, check_request_head, parse_request_head
from .writer import (
    LAST_CHUNK,
    REASONS,
    build_request_head,
    build_response_head,
    encode_chunk,
    encode_last_chunk,
    http_date,
    keep_alive,
    parse_http_date,
)

__all__ = [
    "CHUNKED",
    "LAST_CHUNK",
    "OWS",
    "REASONS",
    "Data",
    "EndOfMessage",
    "Event",
    "HTTPError",
    "Headers",
    "Limits",
    "Request",
    "RequestHead",
    "RequestParser",
    "Response",
    "ResponseParser",
    "build_request_head",
    "build_response_head",
    "check_request_head",
    "encode_chunk",
    "encode_last_chunk",
    "http_date",
    "keep_alive",
    "parse_decimal",
    "parse_http_date",
    "parse_request_head",
]
