"""What a real browser must see through the proxy (docs/server.md cache rules), against any base URL.

Each page of the menu's BROWSER_PAGES is visited three times: in a fresh window (empty browser cache),
again in that window, and in a second fresh window. A query string unique to the run makes the first
visit start from an empty proxy cache too. The proxy's `/_proxy/stats` must agree with the headers:
every response the browser did not take from its own cache reached the proxy, and no other request did.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.client.menu import BROWSER_PAGES

from .cdp import Browser, Load


@dataclass(frozen=True)
class Expect:
    again: str  # X-Cache on the same window's second visit, or "browser" (its own cache, no request)
    new_window: str  # X-Cache in a second fresh window


EXPECTED = {
    "/index.html": Expect("browser", "HIT"),
    "/fresh/page.html": Expect("browser", "HIT"),
    "/stale/page.html": Expect("REVALIDATED", "REVALIDATED"),
    "/nocache/page.html": Expect("REVALIDATED", "REVALIDATED"),
    "/nostore/page.html": Expect("MISS", "MISS"),
    "/private/page.html": Expect("browser", "MISS"),
}


Stats = Callable[[], dict[str, Any]]  # the proxy's /_proxy/stats


LOOKUPS = ("hits", "misses", "revalidations", "stale")  # each GET through the cache counts in one


def _visit(browser_load: Any, stats: Stats, url: str) -> tuple[Load, dict[str, int]]:
    """A load and how the proxy's cache counters moved (`requests` would also count health checks)."""
    before = stats()
    load: Load = browser_load(url)
    after = stats()
    moved = {key: after[key] - before[key] for key in LOOKUPS}
    moved["lookups"] = sum(moved[key] for key in LOOKUPS)
    return load, moved


def _reached_proxy(load: Load) -> int:
    return sum(not r.from_cache for r in load.responses)


def check_page(browser: Browser, base: str, stats: Stats, path: str, run: str) -> None:
    expect = EXPECTED[path]
    url = f"{base}{path}?browser={run}"
    window = browser.new_tab()
    first, moved = _visit(window.load, stats, url)
    page = first.response(f"{path}?browser={run}")
    assert (page.status, page.headers.get("x-cache"), page.from_cache) == (200, "MISS", False), page
    assert moved["lookups"] == _reached_proxy(first), (path, moved, first)

    again, moved = _visit(window.load, stats, url)
    page = again.response(f"{path}?browser={run}")
    if expect.again == "browser":
        assert page.from_cache, f"{path}: expected the browser's own cache, got {page}"
    else:
        assert (page.from_cache, page.headers.get("x-cache")) == (False, expect.again), page
    assert moved["lookups"] == _reached_proxy(again), (path, moved, again)

    other, moved = _visit(browser.new_tab().load, stats, url)
    page = other.response(f"{path}?browser={run}")
    got = (page.from_cache, page.status, page.headers.get("x-cache"))
    assert got == (False, 200, expect.new_window), page
    assert moved["lookups"] == _reached_proxy(other), (path, moved, other)
    hits = sum(r.headers.get("x-cache") == "HIT" for r in other.responses if not r.from_cache)
    assert moved["hits"] == hits, (path, moved, other)


def check_all(browser: Browser, base: str, stats: Stats, screenshot: Path) -> Path:
    """Every menu page behaves as documented; the index renders (title, stylesheet) and is saved as PNG."""
    assert {path for path, _ in BROWSER_PAGES} == set(EXPECTED), "the menu lists what this test proves"
    run = uuid.uuid4().hex[:8]
    for path, _ in BROWSER_PAGES:
        check_page(browser, base, stats, path, run)
    window = browser.new_tab()
    load = window.load(f"{base}/index.html")
    assert load.response("/style.css").status == 200
    assert window.evaluate("document.title") == "qoslab origin"
    assert window.evaluate("document.querySelectorAll('ul li a').length") >= 10
    assert window.evaluate("getComputedStyle(document.body).fontFamily") == "sans-serif"  # style.css applied
    saved = window.screenshot(screenshot)
    data = saved.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
    return saved
