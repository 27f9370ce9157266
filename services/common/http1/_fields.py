"""Pure helpers that turn header-block bytes into `Headers` (RFC 9112 §5), shared by both parsers.

Every pattern here runs in linear time on attacker input: one possessive character class per part, no
two adjacent quantifiers that can match the same bytes (the `[ \\t]*` around an optional value of the
old field pattern backtracked exponentially over many empty values and quadratically over long
whitespace runs). Optional whitespace around a value is removed with `bytes.strip`, not matched.
"""

from __future__ import annotations

import re

from .errors import HTTPError
from .headers import Headers
from .numbers import OWS, parse_decimal

TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]++"
# name ":" then any bytes but CTLs other than HTAB; OWS is stripped afterwards (`bytes.strip`)
_FIELD = re.compile(rb"(" + TOKEN + rb"):([^\x00-\x08\x0a-\x1f\x7f]*+)")
_OWS = b" \t"


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
        items.append((name, found.group(2).strip(_OWS).decode("latin-1")))
        lower.append(name.lower())
    return Headers._trusted(items, lower)


def content_length(values: list[str], status: int) -> int:
    """The one Content-Length of a message; differing or malformed values raise HTTPError(`status`)."""
    seen: set[int] = set()
    for value in values:
        for part in value.split(","):
            number = parse_decimal(part.strip(OWS))
            if number is None:
                raise HTTPError(status, "invalid Content-Length")
            seen.add(number)
    if len(seen) != 1:
        raise HTTPError(status, "conflicting Content-Length values")
    return seen.pop()
