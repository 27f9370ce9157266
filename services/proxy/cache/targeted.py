"""Targeted cache-control fields (RFC 9213), e.g. `CDN-Cache-Control`. Pure.

A cache with a target list (ours: `--targeted-cache-control`, in reverse mode `CDN-Cache-Control` by
default) uses the first field of the list that is present and valid, and then ignores `Cache-Control`
(and the other targeted fields) for its own caching decisions (§2.1). A targeted field's value is a
Structured Field Dictionary (RFC 8941 §3.2); a field that does not parse as one is ignored as a whole
(§2.1: "MUST ignore"), and a directive whose value has the wrong type (`max-age="10"`) is ignored on its
own. Targeted fields are forwarded downstream unchanged (RFC 9213 does not remove them; a further CDN tier
may be their target too).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from services.common.http1.headers import Headers

from .directives import Directives, parse_cache_control

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*+")
_INTEGER = re.compile(r"-?[0-9]{1,15}+")
_DECIMAL = re.compile(r"-?[0-9]{1,12}+\.[0-9]{1,3}+")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*+")
_BYTES = re.compile(r":[A-Za-z0-9+/=]*+:")
_STRING = re.compile(r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*+"')
_BOOLEAN = re.compile(r"\?[01]")
# Directives with an integer argument (delta-seconds); another type makes the directive void.
INTEGER_DIRECTIVES = frozenset({"max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"})


class _Invalid(Exception):
    pass


def _bare_item(text: str, pos: int) -> tuple[str, str, int]:
    """(type, value, end) of the bare item at `pos`."""
    for kind, pattern in (("decimal", _DECIMAL), ("integer", _INTEGER), ("string", _STRING),
                          ("token", _TOKEN), ("bytes", _BYTES), ("boolean", _BOOLEAN)):
        found = pattern.match(text, pos)
        if found is not None:
            return kind, found.group(0), found.end()
    raise _Invalid


def _parameters(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] == ";":
        pos += 1
        while pos < len(text) and text[pos] == " ":
            pos += 1
        key = _KEY.match(text, pos)
        if key is None:
            raise _Invalid
        pos = key.end()
        if pos < len(text) and text[pos] == "=":
            pos = _bare_item(text, pos + 1)[2]
    return pos


def _inner_list(text: str, pos: int) -> int:
    pos += 1  # "("
    while True:
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos < len(text) and text[pos] == ")":
            return _parameters(text, pos + 1)
        pos = _parameters(text, _bare_item(text, pos)[2])
        if pos >= len(text) or text[pos] not in " )":
            raise _Invalid


def parse_dictionary(text: str) -> dict[str, tuple[str, str]] | None:
    """RFC 8941 §4.2.2: key → (type, value) of each member (last one wins); None when invalid."""
    members: dict[str, tuple[str, str]] = {}
    pos, text = 0, text.strip(" ")
    try:
        while pos < len(text):
            key = _KEY.match(text, pos)
            if key is None:
                raise _Invalid
            pos = key.end()
            item: tuple[str, str] = ("boolean", "?1")
            if pos < len(text) and text[pos] == "=":
                if pos + 1 < len(text) and text[pos + 1] == "(":
                    pos, item = _inner_list(text, pos + 1), ("inner-list", "")
                else:
                    kind, value, pos = _bare_item(text, pos + 1)
                    item = (kind, value)
            pos = _parameters(text, pos)
            members[key.group(0)] = item
            while pos < len(text) and text[pos] in " \t":
                pos += 1
            if pos == len(text):
                break
            if text[pos] != ",":
                raise _Invalid
            pos += 1
            while pos < len(text) and text[pos] in " \t":
                pos += 1
            if pos == len(text):
                raise _Invalid  # trailing comma
    except _Invalid:
        return None
    return members


def _directives(members: dict[str, tuple[str, str]]) -> Directives:
    values: dict[str, str | None] = {}
    for key, (kind, value) in members.items():
        if key in INTEGER_DIRECTIVES:
            if kind == "integer":
                values[key] = value
        elif kind == "boolean":
            if value == "?1":
                values[key] = None
        elif kind == "string":
            values[key] = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        else:
            values[key] = value
    return Directives(values)


def targeted_directives(headers: Headers, targets: Sequence[str]) -> Directives | None:
    """The directives of the first targeted field in `targets` that is present and valid, else None."""
    for name in targets:
        values = headers.get_all(name)
        if not values:
            continue
        members = parse_dictionary(", ".join(values))
        if members is not None:
            return _directives(members)
    return None


def response_directives(headers: Headers, targets: Sequence[str] = ()) -> Directives:
    """The response directives the cache obeys: a targeted field's (RFC 9213 §2.1), else Cache-Control."""
    targeted = targeted_directives(headers, targets) if targets else None
    return targeted if targeted is not None else parse_cache_control(headers.get_all("cache-control"))
