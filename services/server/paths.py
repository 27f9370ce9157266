"""Pure path safety: a request target becomes a path inside the root, or nothing (→ 404).

Percent-decode once, refuse NUL and backslashes, drop `.` segments, resolve `..` without ever climbing
above the root, then (in `inside_root`) resolve symlinks and require the real path to stay in the root.
"""

from __future__ import annotations

import os
from urllib.parse import unquote_to_bytes

from services.common.inet import is_authority


def url_path(target: str) -> str | None:
    """The path part of an origin-form or absolute-form target, still percent-encoded; None (→ 400) for
    any other form or an absolute-form authority that is not `host[:port]` (`http://[::1/`)."""
    if target.startswith("/"):
        path = target
    elif target[:7].lower() == "http://" or target[:8].lower() == "https://":
        rest = target.split("://", 1)[1]
        end = min((at for at in (rest.find(c) for c in "/?#") if at >= 0), default=len(rest))
        if not is_authority(rest[:end]):
            return None
        path = rest[end:] if rest[end:end + 1] == "/" else "/" + rest[end:]
    else:
        return None
    return path.split("?", 1)[0].split("#", 1)[0]


def normalise(path: str) -> str | None:
    """Decode once and normalise to a relative path (`a/b.html`, `` for the root); None if unsafe."""
    try:
        text = unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in text or "\\" in text:
        return None
    segments: list[str] = []
    for segment in text.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not segments:
                return None
            segments.pop()
            continue
        segments.append(segment)
    return "/".join(segments)


def inside_root(root_real: str, relative: str) -> str | None:
    """The real path of `relative` under `root_real` (symlinks resolved) if it stays inside, else None."""
    candidate = os.path.realpath(os.path.join(root_real, relative))
    if candidate == root_real or candidate.startswith(root_real.rstrip(os.sep) + os.sep):
        return candidate
    return None
