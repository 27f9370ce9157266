"""Validation (RFC 9111 §4.3): conditional requests upstream, 304 merging, and answering clients'
own conditionals from a stored response. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.http1.headers import Headers
from services.common.http1.writer import parse_http_date

from .age import last_modified_value
from .cookies import DEFAULT_RULES, CookieRules, refuses_storing
from .entry import Entry
from .storage import NOT_UPDATED, connection_listed, stored_fields
from .targeted import response_directives

CONDITIONALS = ("if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range")
# RFC 9110 §15.4.5: fields a 304 from the cache carries.
NOT_MODIFIED_FIELDS = ("cache-control", "content-location", "date", "etag", "expires", "vary",
                       "last-modified")


def conditional_headers(entry: Entry) -> list[tuple[str, str]]:
    """§4.3.1: validators of the stored response, to add to the upstream request."""
    out: list[tuple[str, str]] = []
    etag = entry.headers.get("etag")
    if etag is not None:
        out.append(("If-None-Match", etag))
    last_modified = entry.headers.get("last-modified")
    if last_modified is not None and last_modified_value(entry.headers) is not None:
        out.append(("If-Modified-Since", last_modified))  # an invalid Last-Modified is no validator
    return out


def merge_304(stored: Headers, not_modified: Headers) -> Headers:
    """§3.2: replace stored fields by those in the 304, except the ones that describe the body."""
    drop = NOT_UPDATED | connection_listed(not_modified)
    updates: dict[str, list[tuple[str, str]]] = {}
    for name, value in not_modified.items():
        if name.lower() not in drop:
            updates.setdefault(name.lower(), []).append((name, value))
    merged: list[tuple[str, str]] = []
    for name, value in stored.items():
        lowered = name.lower()
        if lowered not in updates:
            merged.append((name, value))
        elif updates[lowered]:
            merged.extend(updates[lowered])
            updates[lowered] = []
    for fields in updates.values():
        merged.extend(fields)
    return Headers(merged)


def refreshed_fields(stored: Headers, update: Headers, targets: Sequence[str] = (),
                     cookies: CookieRules = DEFAULT_RULES) -> tuple[Headers, Headers | None]:
    """§4.3.4 / §4.3.5: the stored fields updated from a 304 (or a 200 to HEAD): (what the client of this
    exchange gets, what storage keeps — or None when the updated response may not be stored any more).

    The client gets the update's own fields (a `Set-Cookie` in the 304 is for it); storage keeps them under
    the rules of a new response: without withheld fields, and not at all when `--set-cookie pass` refuses
    a response that now sets a cookie (`cookies.refuses_storing`)."""
    merged = merge_304(stored, update)
    cc = response_directives(merged, targets)
    if refuses_storing(merged, cc, cookies):
        return merged, None
    return merged, stored_fields(merged, cc, cookies)


def _etags(text: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in text.split(",") if tag.strip()]


def not_modified_for(entry: Entry, request_headers: Headers) -> bool:
    """RFC 9110 §13.1.2/13.1.3 evaluated against the stored response (GET/HEAD)."""
    if not 200 <= entry.status < 300:
        return False
    inm = request_headers.get_all("if-none-match")
    if inm:
        tags = _etags(",".join(inm))
        etag = entry.headers.get("etag")
        return "*" in tags or (etag is not None and etag.strip().removeprefix("W/") in tags)
    ims_values = request_headers.get_all("if-modified-since")
    # §13.1.3: ignored when not a valid HTTP-date or more than one member
    ims = parse_http_date(ims_values[0]) if len(ims_values) == 1 else None
    if ims is None:
        return False
    lm_text = entry.headers.get("last-modified") or entry.headers.get("date")
    lm = parse_http_date(lm_text) if lm_text is not None else None
    return lm is not None and lm <= ims


def not_modified_headers(entry: Entry) -> Headers:
    return Headers([(n, v) for n, v in entry.headers.items() if n.lower() in NOT_MODIFIED_FIELDS])


def is_conditional(request_headers: Headers) -> bool:
    return any(name in request_headers for name in CONDITIONALS)
