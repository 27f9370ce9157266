"""Cache-Control parsing (RFC 9111 §5.2): comma-separated directives, quoted values, duplicates.

Pure: a list of header values in, a `Directives` mapping out. Directive names are case-insensitive;
values may be tokens or quoted strings (commas inside quotes do not split). For a directive given more
than once the first occurrence wins, but `conflicting` remembers it so a caller can treat the response
as stale (§4.2.1 allows either choice; we take the safe one for freshness directives).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..numbers import parse_uint

DELTA_MAX = 2**31  # §1.2.2: larger delta-seconds are replaced by 2^31


@dataclass(frozen=True)
class Directives:
    values: dict[str, str | None] = field(default_factory=dict)
    duplicated: frozenset[str] = frozenset()

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def seconds(self, name: str) -> int | None:
        """A delta-seconds value; None if absent; -1 if present but invalid or duplicated."""
        if name not in self.values:
            return None
        if name in self.duplicated:
            return -1
        return parse_delta(self.values[name])


def parse_delta(text: str | None) -> int:
    """delta-seconds: ASCII digits only, any length (§1.2.2: larger than 2^31 counts as 2^31); -1 when
    invalid."""
    value = parse_uint(text or "", DELTA_MAX)
    return -1 if value is None else value


def _split(value: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in value:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        out: list[str] = []
        escaped = False
        for ch in inner:
            if escaped or ch != "\\":
                out.append(ch)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return text


def parse_cache_control(values: Iterable[str]) -> Directives:
    found: dict[str, str | None] = {}
    dups: set[str] = set()
    for value in values:
        for part in _split(value):
            name, sep, arg = part.partition("=")
            key = name.strip().lower()
            if not key:
                continue
            if key in found:
                dups.add(key)
                continue
            found[key] = _unquote(arg.strip()) if sep else None
    return Directives(found, frozenset(dups))


EMPTY = Directives()
