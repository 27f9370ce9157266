"""Which condition each client replica gets: by share of the replicas, or by replica index.

By share, replica i (1, 2, …) takes the class furthest behind its share after i − 1 replicas (the
smooth weighted round robin): every prefix of replicas matches the shares to within one replica per
class, and a replica's class never changes when more replicas join (`--scale` up keeps the old ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SHARE_TOLERANCE_PCT = 0.01


@dataclass(frozen=True)
class ShareClass:
    name: str
    share_pct: float


@dataclass(frozen=True)
class IndexClass:
    name: str
    indices: frozenset[int] | None  # None: every replica no other class names


class AssignmentError(ValueError):
    """The classes cannot assign replicas (shares not summing to 100 %, overlapping indices …)."""


def check_shares(classes: Sequence[ShareClass]) -> None:
    if not classes:
        raise AssignmentError("at least one class")
    bad = [c.name for c in classes if c.share_pct <= 0]
    if bad:
        raise AssignmentError(f"every share must be > 0% ({', '.join(bad)})")
    total = sum(c.share_pct for c in classes)
    if abs(total - 100.0) > SHARE_TOLERANCE_PCT:
        raise AssignmentError(f"shares sum to {total:g}%, not 100% "
                              f"({' + '.join(f'{c.name} {c.share_pct:g}%' for c in classes)})")


def by_share(classes: Sequence[ShareClass], index: int) -> str:
    """The class of replica `index` (1-based)."""
    return share_sequence(classes, index)[-1]


def share_sequence(classes: Sequence[ShareClass], count: int) -> list[str]:
    """The classes of replicas 1..count, in order."""
    check_shares(classes)
    if count < 1:
        raise AssignmentError(f"replica index {count}: replicas count from 1")
    credit = [0.0] * len(classes)
    chosen: list[str] = []
    for _ in range(count):
        for j, cls in enumerate(classes):
            credit[j] += cls.share_pct
        best = max(range(len(classes)), key=lambda j: (credit[j], -j))
        credit[best] -= 100.0
        chosen.append(classes[best].name)
    return chosen


def parse_indices(text: str) -> frozenset[int]:
    """`1-4,9` → {1, 2, 3, 4, 9}."""
    found: set[int] = set()
    for part in (p.strip() for p in str(text).split(",")):
        low, sep, high = part.partition("-")
        try:
            first, last = (int(low), int(high)) if sep else (int(low), int(low))
        except ValueError:
            raise AssignmentError(f"{part!r}: replica numbers and ranges, e.g. 1-4,9") from None
        if first < 1 or last < first:
            raise AssignmentError(f"{part!r}: replicas count from 1, ranges go up")
        found.update(range(first, last + 1))
    return frozenset(found)


def check_indices(classes: Sequence[IndexClass]) -> None:
    seen: dict[int, str] = {}
    rest = [c.name for c in classes if c.indices is None]
    if len(rest) > 1:
        raise AssignmentError(f"only one class may take the remaining replicas ({', '.join(rest)})")
    for cls in classes:
        for index in sorted(cls.indices or ()):
            if index in seen:
                raise AssignmentError(f"replica {index} is in both {seen[index]} and {cls.name}")
            seen[index] = cls.name


def by_index(classes: Sequence[IndexClass], index: int) -> str | None:
    """The class naming `index`, else the class of the remaining replicas, else None (unimpaired)."""
    check_indices(classes)
    for cls in classes:
        if cls.indices is not None and index in cls.indices:
            return cls.name
    return next((cls.name for cls in classes if cls.indices is None), None)
