"""The file side of the server: URL path → cached file entry (stat, validators, headers, small bodies).

Entries are re-checked with `stat` at most once per `ttl_s`, so a hot file costs a dict lookup; bodies of
files up to `small_max` bytes stay in memory (bounded by `budget` bytes in total).

Everything is decided on the normalised path the file is found by (`/%70rivate//x/../page.html` is
`/private/page.html`): the cache rule, the directory redirect's Location, and the cache key. Entries are
keyed by the resolved file and its rule, so each spelling of a path costs one small alias, not a copy.
Running out of file descriptors raises `Exhausted` (the caller answers 503), never "not found".
"""

from __future__ import annotations

import errno
import html
import os
import stat
from dataclasses import dataclass
from urllib.parse import quote

from services.common.http1 import http_date

from .paths import inside_root, normalise
from .rules import CacheRule, cache_control, content_type

_MAX_ENTRIES = 10_000
_MAX_ALIASES = 10_000
_MAX_ALIAS_LEN = 1024  # longer spellings are resolved again on each request (≤ ~10 MiB of aliases)
EXHAUSTION = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_LOCATION_SAFE = "/!$&'()*+,;=:@-._~"


class Exhausted(OSError):
    """Out of file descriptors or memory: the server's own trouble (503), not the client's (404)."""


def check_exhaustion(exc: OSError) -> None:
    """Re-raise `exc` as Exhausted when it is EMFILE/ENFILE/ENOMEM/ENOBUFS."""
    if exc.errno in EXHAUSTION:
        raise Exhausted(exc.errno, exc.strerror) from exc


@dataclass(slots=True, eq=False)
class FileEntry:
    path: str
    size: int
    mtime_ns: int
    etag: str
    last_modified: str
    content_type: str
    cache_control: str
    body: bytes | None
    head_200: bytes  # field lines of a full 200, without Date/Server/Connection
    checked: float


@dataclass(frozen=True, slots=True)
class Redirect:
    location: str


@dataclass(frozen=True, slots=True)
class Listing:
    body: bytes
    cache_control: str


Found = FileEntry | Redirect | Listing | None
Key = tuple[str, str]  # (resolved file, Cache-Control value)


def validator_fields(entry: FileEntry) -> str:
    fields = f"Last-Modified: {entry.last_modified}\r\nETag: {entry.etag}\r\n"
    if entry.cache_control:
        fields += f"Cache-Control: {entry.cache_control}\r\n"
    return fields


class Site:
    """A document root with cache rules; `find(url_path, now)` is the only entry point."""

    def __init__(self, root: str, rules: tuple[CacheRule, ...], default_max_age: int, *,
                 listing: bool = False, ttl_s: float = 1.0, small_max: int = 256 * 1024,
                 budget: int = 64 * 1024 * 1024) -> None:
        self.root = os.path.realpath(root)
        self.rules = rules
        self.default_max_age = default_max_age
        self.listing = listing
        self.ttl_s = ttl_s
        self.small_max = small_max
        self.budget = budget
        self._cache: dict[Key, FileEntry] = {}  # by (resolved file, Cache-Control)
        self._aliases: dict[str, Key] = {}  # request path as spelt → its entry's key
        self._cached_bytes = 0

    def find(self, url_path: str, now: float) -> Found:
        """What `url_path` (still percent-encoded) names; raises Exhausted when out of descriptors."""
        key = self._aliases.get(url_path)
        entry = None if key is None else self._cache.get(key)
        if entry is not None and now - entry.checked < self.ttl_s:
            return entry
        return self._refresh(url_path, now)

    def _refresh(self, url_path: str, now: float) -> Found:
        self._aliases.pop(url_path, None)
        relative = normalise(url_path)
        real = None if relative is None else inside_root(self.root, relative)
        if real is None or relative is None:
            return None
        try:
            info = os.stat(real)
        except (OSError, ValueError):
            return None
        path = "/" + relative  # the normalised path the file is found by
        if stat.S_ISDIR(info.st_mode):
            return self._directory(url_path, path, real, now)
        if not stat.S_ISREG(info.st_mode):
            return None
        rule = cache_control(self.rules, path, self.default_max_age)
        key = (real, rule)
        entry = self._cache.get(key)
        if entry is not None and (entry.size, entry.mtime_ns) == (info.st_size, info.st_mtime_ns):
            entry.checked = now
        else:
            self._forget(key)
            entry = self._load(real, rule, info, now)
            if entry is None:
                return None
            self._remember(key, entry)
        if len(url_path) <= _MAX_ALIAS_LEN:
            if len(self._aliases) >= _MAX_ALIASES:
                self._aliases.clear()
            self._aliases[url_path] = key
        return entry

    def _directory(self, url_path: str, path: str, real: str, now: float) -> Found:
        folder = path.rstrip("/") + "/"  # "/" for the root, never "//…"
        if not url_path.endswith("/"):
            return Redirect(quote(folder, safe=_LOCATION_SAFE))
        if os.path.isfile(os.path.join(real, "index.html")):
            return self.find(quote(folder + "index.html", safe=_LOCATION_SAFE), now)
        if self.listing:
            rule = cache_control(self.rules, folder, self.default_max_age)
            return Listing(render_listing(folder, real), rule)
        return None

    def _load(self, real: str, rule: str, info: os.stat_result, now: float) -> FileEntry | None:
        body = None
        if info.st_size <= self.small_max and self._cached_bytes + info.st_size <= self.budget:
            try:
                with open(real, "rb") as handle:
                    body = handle.read(self.small_max + 1)
            except OSError as exc:
                check_exhaustion(exc)
                return None  # unreadable (permissions): not found
            if len(body) != info.st_size:
                body = None  # changing under us: serve it from disk
        entry = FileEntry(real, info.st_size, info.st_mtime_ns, f'"{info.st_mtime_ns:x}-{info.st_size:x}"',
                          http_date(info.st_mtime), content_type(real), rule, body, b"", now)
        entry.head_200 = (f"Content-Type: {entry.content_type}\r\nContent-Length: {entry.size}\r\n"
                          f"{validator_fields(entry)}Accept-Ranges: bytes\r\n").encode("latin-1")
        return entry

    def _remember(self, key: Key, entry: FileEntry) -> None:
        if len(self._cache) >= _MAX_ENTRIES:
            self._forget(next(iter(self._cache)))
        self._cache[key] = entry
        if entry.body is not None:
            self._cached_bytes += len(entry.body)

    def _forget(self, key: Key) -> None:
        entry = self._cache.pop(key, None)
        if entry is not None and entry.body is not None:
            self._cached_bytes -= len(entry.body)

    @property
    def cached_bytes(self) -> int:
        """Bytes of file bodies held in memory."""
        return self._cached_bytes


def render_listing(url_path: str, real: str) -> bytes:
    """A minimal HTML index of a directory (only when listings are switched on)."""
    try:
        names = sorted(os.listdir(real))
    except OSError as exc:
        check_exhaustion(exc)
        names = []
    title = html.escape(url_path)
    rows = []
    for name in names:
        suffix = "/" if os.path.isdir(os.path.join(real, name)) else ""
        rows.append(f'<li><a href="{quote(name)}{suffix}">{html.escape(name)}{suffix}</a></li>')
    page = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>"
            f"<body><h1>Index of {title}</h1><ul>{''.join(rows)}</ul></body></html>\n")
    return page.encode("utf-8")
