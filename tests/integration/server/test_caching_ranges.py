"""Validators, 304, Range/If-Range, Cache-Control rules, directories."""

from __future__ import annotations

import pytest

from .conftest import Server


def test_if_none_match_and_if_modified_since(server: Server) -> None:
    first = server.get("/small.txt")
    etag, modified = first.headers.get("etag"), first.headers.get("last-modified")
    not_modified = server.get("/small.txt", f"If-None-Match: W/{etag}, \"other\"")
    assert not_modified.status == 304 and not_modified.body == b""
    assert not_modified.headers.get("etag") == etag and "content-length" not in not_modified.headers
    assert server.get("/small.txt", f"If-Modified-Since: {modified}").status == 304
    assert server.get("/small.txt", "If-None-Match: \"nope\"", f"If-Modified-Since: {modified}").status == 200
    assert server.get("/small.txt", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT").status == 200
    assert server.get("/small.txt", "If-Match: \"nope\"").status == 412


@pytest.mark.parametrize(("spec", "status", "part"), [
    ("bytes=0-9", 206, slice(0, 10)),
    ("bytes=95-", 206, slice(95, 100)),
    ("bytes=-5", 206, slice(95, 100)),
    ("bytes=90-1000", 206, slice(90, 100)),
    ("bytes=100-", 416, None),
    ("bytes=0-1,5-6", 200, slice(0, 100)),
    ("bytes=5-1", 200, slice(0, 100)),
    ("items=0-1", 200, slice(0, 100)),
])
def test_ranges(server: Server, spec: str, status: int, part: slice | None) -> None:
    data = (server.root / "small.txt").read_bytes()
    reply = server.get("/small.txt", f"Range: {spec}")
    assert reply.status == status
    if part is not None:
        assert reply.body == data[part]
    if status == 206:
        assert reply.headers.get("content-range") == f"bytes {part.start}-{part.stop - 1}/100"  # type: ignore[union-attr]
    if status == 416:
        assert reply.headers.get("content-range") == "bytes */100"


def test_if_range(server: Server) -> None:
    first = server.get("/small.txt")
    etag, modified = first.headers.get("etag"), first.headers.get("last-modified")
    assert server.get("/small.txt", "Range: bytes=0-0", f"If-Range: {etag}").status == 206
    assert server.get("/small.txt", "Range: bytes=0-0", f"If-Range: {modified}").status == 206
    assert server.get("/small.txt", "Range: bytes=0-0", "If-Range: \"old\"").status == 200
    head = server.get("/small.txt", "Range: bytes=0-0", method="HEAD")
    assert head.status == 200


@pytest.mark.parametrize(("path", "value"), [
    ("/fresh/page.html", "public, max-age=3600"),
    ("/stale/page.html", "max-age=0, must-revalidate"),
    ("/nostore/page.html", "no-store"),
    ("/private/page.html", "private, max-age=60"),
    ("/index.html", "public, max-age=60"),
])
def test_cache_control_rules(server: Server, path: str, value: str) -> None:
    assert server.get(path).headers.get("cache-control") == value


def test_directories(server: Server) -> None:
    redirect = server.get("/dir?x=1")
    assert redirect.status == 301 and redirect.headers.get("location") == "/dir/?x=1"
    assert server.get("/dir/").body == b"<p>dir index</p>\n"
    assert server.get("/empty/").status == 404


def test_listing_switch(spawn: object) -> None:
    srv = spawn("--listing")  # type: ignore[operator]
    reply = srv.get("/empty/")
    assert reply.status == 200 and b"Index of /empty/" in reply.body
    listing = srv.get("/fresh/")  # a directory without index.html: its entries, linked
    assert listing.status == 200 and b'<a href="page.html">page.html</a>' in listing.body, listing.body
    root = srv.get("/")  # a directory with index.html: the index, not a listing
    assert root.body == b"<h1>home</h1>\n"


def test_configured_rules_and_max_age(spawn: object) -> None:
    srv = spawn("--cache-rules", "/small.txt=no-store;/dir/*=none", "--max-age", "5")  # type: ignore[operator]
    assert srv.get("/small.txt").headers.get("cache-control") == "no-store"
    assert "cache-control" not in srv.get("/dir/index.html").headers
    assert srv.get("/style.css").headers.get("cache-control") == "public, max-age=5"
