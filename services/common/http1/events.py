"""Events the parsers produce and the writer consumes.

`version` is the full protocol token as on the wire: "HTTP/1.1" or "HTTP/1.0".
"""

from __future__ import annotations

from dataclasses import dataclass

from .headers import Headers


@dataclass(slots=True)
class Request:
    method: str
    target: str
    version: str
    headers: Headers


@dataclass(slots=True)
class Response:
    status: int
    reason: str
    version: str
    headers: Headers


@dataclass(slots=True)
class Data:
    data: bytes


@dataclass(slots=True)
class EndOfMessage:
    trailers: Headers | None = None


Event = Request | Response | Data | EndOfMessage
