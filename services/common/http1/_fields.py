"""Pure helpers that turn header-block bytes into `Headers` (RFC 9112 §5), shared by both parsers."""

from __future__ import annotations

import re

from .errors import HTTPError
from .headers import Headers

TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_VALUE = rb"(?:[^\x00-\x20\x7f](?:[^\x00-\x08\x0a-\x1f\x7f]*[^\x00-\x20\x7f])?)?"
_FIELD = re.compile(rb"(" + TOKEN + rb"):[ \t]*(" + _VALUE + rb")[ \t]*")
# One valid field line without captures: a head matching `(?:FIELD_LINE\r\n)*` passes `parse_fields`.
FIELD_LINE = TOKEN + rb":[ \t]*" + _VALUE + rb"[ \t]*"
_DIGITS = re.compile(r"[0-9]{1,18}")


def parse_fields(lines: list[bytes], status: int) -> Headers:
    """Parse field lines (no CRLF); obs-fold, bad names and bad characters raise HTTPError(`status`)."""
    items: list[tuple[str, str]] = []
    lower: list[str] = []
    match = _FIELD.fullmatch
    for line in lines:
        found = match(line)
        if found is None:
            if line[:1] in (b" ", b"\t"):
                raise HTTPError(status, "obsolete line folding in header")
            raise HTTPError(status, "invalid header field")
        name = found.group(1).decode("ascii")
        items.append((name, found.group(2).decode("latin-1")))
        lower.append(name.lower())
    return Headers._trusted(items, lower)


def content_length(values: list[str], status: int) -> int:
    """The one Content-Length of a message; differing or malformed values raise HTTPError(`status`)."""
    seen: set[str] = set()
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not _DIGITS.fullmatch(part):
                raise HTTPError(status, "invalid Content-Length")
            seen.add(part.lstrip("0") or "0")
    if len(seen) != 1:
        raise HTTPError(status, "conflicting Content-Length values")
    return int(seen.pop())
