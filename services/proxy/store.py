"""The cache store: variants per URL, least-recently-used eviction per variant, bounded by bytes and by
variants per URL. No policy here.

A URL's variants are keyed by their Vary values (`Entry.vary`, the normalised values of the nominated
request fields), so finding the variant for a request is one dict lookup per distinct Vary field set
stored for that URL (almost always one), never a scan: 10,000 variants of one URL cost a request no
more than one. Each variant has its own place in the LRU by bytes, so variants age and leave one by one.

The bound per URL (`max_variants`) picks its victim by use as well as recency (2Q, Johnson & Shasha 1994,
per URL): a variant enters on probation; one served again (a hit), or stored again soon after the bound
dropped it (its Vary key is among the URL's last `GHOSTS_PER_VARIANT × max_variants` dropped ones), is
"reused" and kept over the others; the bound drops the oldest variant on probation first. Reused variants
fill at most 3/4 of the slots (the least recently used beyond goes back on probation), so new values
always have room to prove themselves. A Vary flood of one-off values (a header that differs per client)
therefore cycles through the probation slots while the variants people ask for again stay — with plain
LRU a variant asked for less often than once per `max_variants` new values missed every time.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from services.common.http1.headers import Headers

from .cache.entry import Entry
from .cache.vary import normalise

DEFAULT_MAX_VARIANTS = 32
GHOSTS_PER_VARIANT = 4  # Vary keys of dropped variants a URL remembers, per allowed variant
GHOST_BYTES = 72  # what one remembered key costs (a dict slot and an int), charged like an entry's bytes
VaryKey = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class _Url:
    """Plain dicts (insertion-ordered; touched by re-inserting): an OrderedDict per URL costs ~400 B. The
    2Q bookkeeping (`reused`, `ghosts`) is made only when a URL has a second variant or drops one."""

    variants: dict[VaryKey, Entry] = field(default_factory=dict)  # least recently used first
    name_sets: dict[tuple[str, ...], int] = field(default_factory=dict)  # Vary field sets in use: count
    reused: dict[VaryKey, None] | None = None  # variants served again: least recently used first
    ghosts: dict[int, None] | None = None  # hashes of Vary keys the bound dropped, oldest first


class Store:
    """Entries grouped by primary key (method-independent URL); LRU over variants, bounded by
    `max_bytes` (charged `Entry.size`, about the real memory) and by `max_variants` per URL."""

    def __init__(self, max_bytes: int, max_object_bytes: int,
                 max_variants: int = DEFAULT_MAX_VARIANTS) -> None:
        self.max_bytes = max_bytes
        self.max_object_bytes = max_object_bytes
        self.max_variants = max(1, max_variants)
        self.max_reused = self.max_variants - max(1, self.max_variants // 4)
        self.max_ghosts = GHOSTS_PER_VARIANT * self.max_variants
        self.used_bytes = 0
        self.evictions = 0
        self.variant_evictions = 0  # of those, variants dropped for the per-URL bound
        self.freed_bytes = 0  # charged bytes that left the store (evicted, replaced, dropped), ever
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
            if len(url.variants) > 1:
                self._reuse(url, best.vary)
        return best

    def fits(self, size_bytes: int) -> bool:
        return size_bytes <= self.max_object_bytes and size_bytes <= self.max_bytes

    def put(self, entry: Entry) -> bool:
        """Store `entry`, replacing the variant with the same Vary values; False if too big."""
        if not self.fits(len(entry.body)):
            return False
        url = self._urls.setdefault(entry.key, _Url())
        old = url.variants.get(entry.vary)
        reused = old is not None and url.reused is not None and entry.vary in url.reused
        if old is not None:
            self._unlink(old)
        while len(url.variants) >= self.max_variants:
            self._drop_for_bound(url)
        url = self._urls.setdefault(entry.key, _Url())
        url.variants[entry.vary] = entry
        names = _names(entry.vary)
        url.name_sets[names] = url.name_sets.get(names, 0) + 1
        self._lru[(entry.key, entry.vary)] = entry
        self.used_bytes += entry.size
        if reused or self._returning(url, entry.vary):
            self._reuse(url, entry.vary)
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
        self.freed_bytes += old.size
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
        self.freed_bytes += self.used_bytes
        self.used_bytes = 0

    # -- the bound per URL (2Q) -----------------------------------------------------------------------
    def _reuse(self, url: _Url, vary: VaryKey) -> None:
        """`vary` was asked for again: the most recently reused; beyond `max_reused`, the least recently
        reused goes back on probation (as its newest member)."""
        reused = url.reused
        if reused is None:
            reused = url.reused = {}
        else:
            reused.pop(vary, None)
        reused[vary] = None
        if len(reused) > self.max_reused:
            demoted = next(iter(reused))
            del reused[demoted]
            url.variants[demoted] = url.variants.pop(demoted)

    def _victim(self, url: _Url) -> Entry:
        """The oldest variant on probation; the least recently reused one when none is."""
        reused = url.reused
        if not reused:
            return next(iter(url.variants.values()))
        if len(reused) < len(url.variants):  # at most len(reused) + 1 steps
            return next(entry for vary, entry in url.variants.items() if vary not in reused)
        return url.variants[next(iter(reused))]

    def _drop_for_bound(self, url: _Url) -> None:
        victim = self._victim(url)
        ghosts = url.ghosts
        if ghosts is None:
            ghosts = url.ghosts = {}
        ghosts[hash(victim.vary)] = None
        self.used_bytes += GHOST_BYTES
        if len(ghosts) > self.max_ghosts:
            del ghosts[next(iter(ghosts))]
            self.used_bytes -= GHOST_BYTES
        self._unlink(victim)
        self.evictions += 1
        self.variant_evictions += 1

    def _returning(self, url: _Url, vary: VaryKey) -> bool:
        """Was `vary` dropped by the bound recently (forgotten once asked)?"""
        ghosts, remembered = url.ghosts, hash(vary)
        if not ghosts or remembered not in ghosts:
            return False
        del ghosts[remembered]
        self.used_bytes -= GHOST_BYTES
        return True

    def _unlink(self, entry: Entry) -> None:
        url = self._urls[entry.key]
        del url.variants[entry.vary]
        if url.reused is not None:
            url.reused.pop(entry.vary, None)
        names = _names(entry.vary)
        url.name_sets[names] -= 1
        if url.name_sets[names] <= 0:
            del url.name_sets[names]
        if not url.variants:
            del self._urls[entry.key]
            self.used_bytes -= GHOST_BYTES * len(url.ghosts or ())
        del self._lru[(entry.key, entry.vary)]
        self.used_bytes -= entry.size
        self.freed_bytes += entry.size

    def _evict(self) -> None:
        while self.used_bytes > self.max_bytes and self._lru:
            self._unlink(next(iter(self._lru.values())))
            self.evictions += 1


def _names(vary: VaryKey) -> tuple[str, ...]:
    return tuple(name for name, _ in vary)
