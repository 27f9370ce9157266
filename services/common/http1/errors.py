"""The one error type of the HTTP/1.1 codec: it carries the status code to answer with."""

from __future__ import annotations


class HTTPError(Exception):
    """A message that cannot be parsed or framed.

    `status_code` is what a server answers (400, 413, 414, 431, 501, 505) or, for a response parsed by a
    proxy or client, 502. The parsers never raise anything else.
    """

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"{status_code} {message}")
        self.status_code = status_code
        self.message = message

    def __repr__(self) -> str:
        return f"HTTPError({self.status_code!r}, {self.message!r})"
