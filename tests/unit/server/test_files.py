"""Site: rules, redirects and the file cache follow the normalised path; exhaustion is not "not found"."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from services.server import files
from services.server.files import Exhausted, FileEntry, Listing, Redirect, Site
from services.server.rules import DEFAULT_RULES, parse_rules

PAGE = b"<p>private</p>\n" * 100


@pytest.fixture
def site(tmp_path: Path) -> Site:
    for name in ("private", "fresh", "x"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "page.html").write_bytes(PAGE)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "index.html").write_bytes(b"index\n")
    (tmp_path / "bare").mkdir()
    return Site(str(tmp_path), parse_rules(DEFAULT_RULES), 60, listing=True)


SPELLINGS = ["/private/page.html", "/%70rivate/page.html", "//private/page.html", "/x/../private/page.html",
             "/private%2fpage.html", "/private/./page.html", "/%2e/private//page.html",
             "/PRIVATE/../private/page.html"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_cache_rule_follows_the_normalised_path(site: Site, spelling: str) -> None:
    """Issue 16 item 12: every spelling of the private page gets the private rule, never `public`."""
    found = site.find(spelling, 0.0)
    assert isinstance(found, FileEntry)
    assert found.cache_control == "private, max-age=60"
    assert b"Cache-Control: private, max-age=60\r\n" in found.head_200


def test_every_spelling_shares_one_cached_copy(site: Site) -> None:
    """Issue 16 item 16: 2,000 spellings of a page held 2,000 copies of its body."""
    entries = {id(site.find("/" + "/" * n + "private/page.html", 0.0)) for n in range(200)}
    entries |= {id(site.find(spelling, 0.0)) for spelling in SPELLINGS}
    assert len(entries) == 1
    assert site.cached_bytes == len(PAGE)


@pytest.mark.parametrize(("target", "location"), [
    ("/dir", "/dir/"), ("//dir", "/dir/"), ("/x/../dir", "/dir/"), ("/%64ir", "/dir/"),
    ("//evil.example/x%2f..%2f..", "/"), ("//evil.example/..%2fdir", "/dir/"), ("/x/..", "/"),
    ("/bare%0d%0aSet-Cookie:%20a=1/..", "/"),
])
def test_directory_redirects_use_the_normalised_path(site: Site, target: str, location: str) -> None:
    """Issue 16 item 14: `GET //evil.example/x%2f..%2f..` was redirected to `//evil.example/...`."""
    found = site.find(target, 0.0)
    assert found == Redirect(location)


def test_redirect_location_is_percent_encoded(tmp_path: Path) -> None:
    (tmp_path / "a b\r\nX: y").mkdir()
    found = Site(str(tmp_path), (), 60).find("/a%20b%0d%0aX:%20y", 0.0)
    assert found == Redirect("/a%20b%0D%0AX:%20y/")


def test_index_and_listing_use_the_normalised_path(site: Site) -> None:
    index = site.find("//dir/", 0.0)
    assert isinstance(index, FileEntry) and index.path.endswith("index.html")
    listing = site.find("/x/../bare/", 0.0)
    assert isinstance(listing, Listing) and b"Index of /bare/" in listing.body


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE])
def test_descriptor_exhaustion_is_not_not_found(site: Site, monkeypatch: pytest.MonkeyPatch,
                                                code: int) -> None:
    """Issue 16 item 2: EMFILE on open was mapped to "not found" (404 for a file that exists)."""
    def no_descriptors(*args: Any, **kwargs: Any) -> Any:
        raise OSError(code, "Too many open files")

    monkeypatch.setattr(files, "open", no_descriptors, raising=False)
    with pytest.raises(Exhausted):
        site.find("/fresh/page.html", 0.0)
    monkeypatch.undo()
    assert isinstance(site.find("/fresh/page.html", 0.0), FileEntry)  # nothing half-remembered


def test_unreadable_file_is_still_not_found(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(files, "open", denied, raising=False)
    assert site.find("/fresh/page.html", 0.0) is None


def test_aliases_are_bounded(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "_MAX_ALIASES", 100)
    long = "/" * 2000 + "private/page.html"
    assert isinstance(site.find(long, 0.0), FileEntry)
    spellings = {"/" * (n % 90 + 1) + "./" * (n // 90) + "private/page.html" for n in range(300)}
    assert len(spellings) == 300
    for spelling in spellings:
        assert isinstance(site.find(spelling, 0.0), FileEntry)
    assert 0 < len(site._aliases) <= 100 and long not in site._aliases
    assert site.cached_bytes == len(PAGE)
