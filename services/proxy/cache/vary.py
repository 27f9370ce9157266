"""Vary (RFC 9111 §4.1): which stored variant matches a request. Pure."""

from __future__ import annotations

import re

from services.common.http1.headers import Headers

_SPACES = re.compile(r"\s*,\s*|\s+")


def vary_names(response_headers: Headers) -> list[str]:
    return sorted(set(response_headers.get_tokens("vary")))


def normalise(request_headers: Headers, name: str) -> str:
    """All values of `name` joined with ", "; runs of whitespace collapsed (§4.1 allows normalising)."""
    values = request_headers.get_all(name)
    if not values:
        return "\x00absent"
    return _SPACES.sub(lambda m: "," if "," in m.group(0) else " ", ",".join(values).strip())


def vary_key(response_headers: Headers, request_headers: Headers) -> tuple[tuple[str, str], ...]:
    """The nominated request fields' values at store time; `*` never matches."""
    names = vary_names(response_headers)
    return tuple((name, normalise(request_headers, name)) for name in names)


def matches(stored: tuple[tuple[str, str], ...], request_headers: Headers) -> bool:
    return all(name != "*" and normalise(request_headers, name) == value for name, value in stored)
