"""Cache-Control per path pattern, and Content-Type by extension (pure)."""

from __future__ import annotations

import fnmatch
import mimetypes
from dataclasses import dataclass

DEFAULT_RULES = ("/fresh/*=public, max-age=3600;/stale/*=max-age=0, must-revalidate;/nocache/*=no-cache;"
                 "/nostore/*=no-store;/private/*=private, max-age=60;/generated/*=public, max-age=300")

_TYPES = {
    ".html": "text/html", ".htm": "text/html", ".css": "text/css", ".js": "text/javascript",
    ".mjs": "text/javascript", ".json": "application/json", ".txt": "text/plain", ".md": "text/markdown",
    ".csv": "text/csv", ".xml": "application/xml", ".svg": "image/svg+xml", ".png": "image/png",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
    ".ico": "image/x-icon", ".woff2": "font/woff2", ".wasm": "application/wasm", ".pdf": "application/pdf",
    ".bin": "application/octet-stream", ".mp4": "video/mp4", ".webm": "video/webm", ".zip": "application/zip",
    ".gz": "application/gzip", ".tar": "application/x-tar",
}
_CHARSET = ("text/", "application/json", "application/xml", "image/svg+xml")


@dataclass(frozen=True)
class CacheRule:
    pattern: str
    value: str


def parse_rules(text: str) -> tuple[CacheRule, ...]:
    """`PATTERN=VALUE;PATTERN=VALUE` (glob patterns on the URL path; first match wins)."""
    rules: list[CacheRule] = []
    for part in text.split(";"):
        if not part.strip():
            continue
        pattern, sep, value = part.partition("=")
        if not sep or not pattern.strip().startswith("/") or not value.strip():
            raise ValueError(f"invalid cache rule {part!r} (expected /pattern=cache-control value)")
        if any(ch in value for ch in "\r\n"):
            raise ValueError(f"invalid cache rule {part!r}: line break in value")
        rules.append(CacheRule(pattern.strip(), value.strip()))
    return tuple(rules)


def cache_control(rules: tuple[CacheRule, ...], url_path: str, default_max_age: int) -> str:
    """The Cache-Control value for `url_path` (`/a/b.html`); '' means send none."""
    for rule in rules:
        if fnmatch.fnmatchcase(url_path, rule.pattern):
            return "" if rule.value == "none" else rule.value
    return f"public, max-age={default_max_age}" if default_max_age >= 0 else ""


def content_type(name: str) -> str:
    """Content-Type by extension, with `charset=utf-8` for text."""
    dot = name.rfind(".")
    ext = name[dot:].lower() if dot >= 0 else ""
    kind = _TYPES.get(ext) or mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
    if kind.startswith(_CHARSET):
        return f"{kind}; charset=utf-8"
    return kind
