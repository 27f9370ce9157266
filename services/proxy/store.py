"""The cache store: variants per URL, least-recently-used eviction per variant, bounded by bytes and by
variants per URL. No policy here.

A URL's variants are keyed by their Vary values (`Entry.vary`, the normalised values of the nominated
request fields), so finding the variant for a request is one dict lookup per distinct Vary field set
stored for that URL (almost always one), never a scan: 10,000 variants of one URL cost a request no
more than one. Each variant has its own place in the LRU; a URL over `max_variants` loses its least
recently used variant.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from services.common.http1.headers import Headers

from .cache.entry import Entry
from .cache.vary import normalise

DEFAULT_MAX_VARIANTS = 32
VaryKey = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class _Url:
    """Plain dicts (insertion-ordered; touched by re-inserting): an OrderedDict per URL costs ~400 B."""

    variants: dict[VaryKey, Entry] = field(default_factory=dict)  # least recently used first
    name_sets: dict[tuple[str, ...], int] = field(default_factory=dict)  # Vary field sets in use: count


class Store:
    """Entries grouped by primary key (method-independent URL); LRU over variants, bounded by
    `max_bytes` (charged `Entry.size`, about the real memory) and by `max_variants` per URL."""

    def __init__(self, max_bytes: int, max_object_bytes: int,
                 max_variants: int = DEFAULT_MAX_VARIANTS) -> None:
        self.max_bytes = max_bytes
        self.max_object_bytes = max_object_bytes
        self.max_variants = max(1, max_variants)
        self.used_bytes = 0
        self.evictions = 0
        self.variant_evictions = 0  # of those, variants dropped for the per-URL bound
        self._urls: dict[str, _Url] = {}
        self._lru: OrderedDict[tuple[str, VaryKey], Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._lru)

    def keys(self) -> list[str]:
        return list(self._urls)

    def lookup(self, key: str) -> list[Entry]:
        """Every stored variant of `key` (for HEAD effects and tests); does not touch the LRU."""
        url = self._urls.get(key)
        return [] if url is None else list(url.variants.values())

    def single(self, key: str) -> Entry | None:
        """The one variant of `key` if it has exactly one and no Vary (the fast hit path), touched."""
        url = self._urls.get(key)
        if url is None or len(url.variants) != 1:
            return None
        vary, entry = next(iter(url.variants.items()))
        if vary:
            return None
        self._lru.move_to_end((key, vary))
        return entry

    def select(self, key: str, request_headers: Headers) -> Entry | None:
        """§4.1: the most recent variant whose Vary-nominated fields match the request, touched.
        Same answer as `cache.policy.select(store.lookup(key), headers)` (differential test)."""
        url = self._urls.get(key)
        if url is None:
            return None
        best: Entry | None = None
        for names in url.name_sets:
            if "*" in names:
                continue
            entry = url.variants.get(tuple((name, normalise(request_headers, name)) for name in names))
            if entry is not None and (best is None or entry.response_time >= best.response_time):
                best = entry
        if best is not None:
            url.variants[best.vary] = url.variants.pop(best.vary)
            self._lru.move_to_end((key, best.vary))
        return best

    def fits(self, size_bytes: int) -> bool:
        return size_bytes <= self.max_object_bytes and size_bytes <= self.max_bytes

    def put(self, entry: Entry) -> bool:
        """Store `entry`, replacing the variant with the same Vary values; False if too big."""
        if not self.fits(len(entry.body)):
            return False
        url = self._urls.setdefault(entry.key, _Url())
        old = url.variants.get(entry.vary)
        if old is not None:
            self._unlink(old)
        while len(url.variants) >= self.max_variants:
            self._unlink(next(iter(url.variants.values())))
            self.evictions += 1
            self.variant_evictions += 1
        url = self._urls.setdefault(entry.key, _Url())
        url.variants[entry.vary] = entry
        names = _names(entry.vary)
        url.name_sets[names] = url.name_sets.get(names, 0) + 1
        self._lru[(entry.key, entry.vary)] = entry
        self.used_bytes += entry.size
        self._evict()
        return True

    def replace(self, old: Entry, new: Entry) -> None:
        """Put `new` in place of `old` (a refresh keeps the Vary key); a plain put if `old` is gone."""
        url = self._urls.get(old.key)
        if url is None or url.variants.get(old.vary) is not old or new.vary != old.vary \
                or new.key != old.key:
            self.put(new)
            return
        del url.variants[old.vary]
        url.variants[old.vary] = new
        self._lru[(old.key, old.vary)] = new
        self._lru.move_to_end((old.key, old.vary))
        self.used_bytes += new.size - old.size
        self._evict()

    def discard(self, entry: Entry) -> None:
        """Drop one stored variant (no-op if it is gone already)."""
        url = self._urls.get(entry.key)
        if url is not None and url.variants.get(entry.vary) is entry:
            self._unlink(entry)

    def remove(self, key: str) -> int:
        """Drop every variant of `key`; returns how many."""
        entries = self.lookup(key)
        for entry in entries:
            self._unlink(entry)
        return len(entries)

    def clear(self) -> None:
        self._urls.clear()
        self._lru.clear()
        self.used_bytes = 0

    def _unlink(self, entry: Entry) -> None:
        url = self._urls[entry.key]
        del url.variants[entry.vary]
        names = _names(entry.vary)
        url.name_sets[names] -= 1
        if url.name_sets[names] <= 0:
            del url.name_sets[names]
        if not url.variants:
            del self._urls[entry.key]
        del self._lru[(entry.key, entry.vary)]
        self.used_bytes -= entry.size

    def _evict(self) -> None:
        while self.used_bytes > self.max_bytes and self._lru:
            self._unlink(next(iter(self._lru.values())))
            self.evictions += 1


def _names(vary: VaryKey) -> tuple[str, ...]:
    return tuple(name for name, _ in vary)
