"""An ordered multi-map of header fields with case-insensitive names and `str` (latin-1) values."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class Headers:
    """Header fields in arrival order; names compare case-insensitively, duplicates are kept."""

    __slots__ = ("_items", "_lower")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = list(items)
        self._lower: list[str] = [name.lower() for name, _ in self._items]

    @classmethod
    def _trusted(cls, items: list[tuple[str, str]], lower: list[str]) -> Headers:
        """Build from lists the parser already produced (no copies)."""
        obj = cls.__new__(cls)
        obj._items = items
        obj._lower = lower
        return obj

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of `name`, or `default`."""
        key = name.lower()
        for index, lowered in enumerate(self._lower):
            if lowered == key:
                return self._items[index][1]
        return default

    def get_all(self, name: str) -> list[str]:
        key = name.lower()
        return [self._items[i][1] for i, lowered in enumerate(self._lower) if lowered == key]

    def get_tokens(self, name: str) -> list[str]:
        """All values of `name` split on commas, stripped of SP/HTAB only, lower-cased, empty ones dropped."""
        tokens: list[str] = []
        for value in self.get_all(name):
            tokens.extend(token for part in value.split(",") if (token := part.strip(" \t").lower()))
        return tokens

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))
        self._lower.append(name.lower())

    def set(self, name: str, value: str) -> None:
        """Replace every `name` field by one (kept at the position of the first, else appended)."""
        key = name.lower()
        if key not in self._lower:
            self.add(name, value)
            return
        first = self._lower.index(key)
        self.remove(name)
        self._items.insert(first, (name, value))
        self._lower.insert(first, key)

    def remove(self, name: str) -> None:
        key = name.lower()
        keep = [i for i, lowered in enumerate(self._lower) if lowered != key]
        self._items = [self._items[i] for i in keep]
        self._lower = [self._lower[i] for i in keep]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lower

    def has_any(self, names: frozenset[str]) -> bool:
        """Whether any field's lower-cased name is in `names` (one pass, for hot paths)."""
        return not names.isdisjoint(self._lower)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def copy(self) -> Headers:
        return Headers._trusted(list(self._items), list(self._lower))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
