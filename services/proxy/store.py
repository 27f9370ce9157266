"""The cache store: variants per key, least-recently-used eviction bounded by bytes. No policy here."""

from __future__ import annotations

from collections import OrderedDict

from .cache.entry import Entry


class Store:
    """Entries grouped by primary key (method-independent URL); LRU over keys, bounded by `max_bytes`."""

    def __init__(self, max_bytes: int, max_object_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_object_bytes = max_object_bytes
        self.used_bytes = 0
        self.evictions = 0
        self._data: OrderedDict[str, list[Entry]] = OrderedDict()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def keys(self) -> list[str]:
        return list(self._data)

    def lookup(self, key: str) -> list[Entry]:
        entries = self._data.get(key)
        if entries is None:
            return []
        self._data.move_to_end(key)
        return entries

    def fits(self, size_bytes: int) -> bool:
        return size_bytes <= self.max_object_bytes and size_bytes <= self.max_bytes

    def put(self, entry: Entry) -> bool:
        """Store `entry`, replacing the variant with the same Vary values; False if too big."""
        if not self.fits(len(entry.body)):
            return False
        entries = self._data.setdefault(entry.key, [])
        for index, old in enumerate(entries):
            if old.vary == entry.vary:
                self.used_bytes -= old.size
                del entries[index]
                self._count -= 1
                break
        entries.append(entry)
        self._count += 1
        self.used_bytes += entry.size
        self._data.move_to_end(entry.key)
        self._evict()
        return True

    def replace(self, old: Entry, new: Entry) -> None:
        entries = self._data.get(old.key)
        if entries is None or old not in entries:
            self.put(new)
            return
        entries[entries.index(old)] = new
        self.used_bytes += new.size - old.size
        self._evict()

    def discard(self, entry: Entry) -> None:
        """Drop one stored variant (no-op if it is gone already)."""
        entries = self._data.get(entry.key)
        if entries is None or entry not in entries:
            return
        entries.remove(entry)
        self.used_bytes -= entry.size
        self._count -= 1
        if not entries:
            del self._data[entry.key]

    def remove(self, key: str) -> int:
        entries = self._data.pop(key, [])
        for entry in entries:
            self.used_bytes -= entry.size
        self._count -= len(entries)
        return len(entries)

    def clear(self) -> None:
        self._data.clear()
        self.used_bytes = 0
        self._count = 0

    def _evict(self) -> None:
        while self.used_bytes > self.max_bytes and self._data:
            _, entries = self._data.popitem(last=False)
            for entry in entries:
                self.used_bytes -= entry.size
            self._count -= len(entries)
            self.evictions += len(entries)
