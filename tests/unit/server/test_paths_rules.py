"""Pure path safety, cache rules and content types."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.server.paths import inside_root, normalise, url_path
from services.server.rules import DEFAULT_RULES, cache_control, content_type, parse_rules


@pytest.mark.parametrize(("target", "expected"), [
    ("/a/b?x=1", "/a/b"), ("/", "/"), ("http://h:1/p?q", "/p"), ("HTTP://h", "/"), ("*", None),
    ("a/b", None), ("/a#frag", "/a"),
])
def test_url_path(target: str, expected: str | None) -> None:
    assert url_path(target) == expected


@pytest.mark.parametrize(("path", "expected"), [
    ("/", ""), ("/a/./b//c", "a/b/c"), ("/a/../b", "b"), ("/%61", "a"), ("/%2e%2e/x", None),
    ("/..", None), ("/a/../..", None), ("/%00", None), ("/a%5cb", None), ("/a\\b", None),
    ("/%252e", "%2e"), ("/%ff", None), ("/caf%C3%A9", "café"),
])
def test_normalise(path: str, expected: str | None) -> None:
    assert normalise(path) == expected


def test_inside_root_resolves_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_text("x")
    (tmp_path / "outside").write_text("y")
    (root / "out").symlink_to(tmp_path / "outside")
    (root / "in").symlink_to(root / "f")
    real = os.path.realpath(root)
    assert inside_root(real, "f") == os.path.join(real, "f")
    assert inside_root(real, "in") == os.path.join(real, "f")
    assert inside_root(real, "out") is None



def test_inside_root_needs_a_separator_after_the_root(tmp_path: Path) -> None:
    """`/srv/root` must not admit `/srv/rootx/…`, a sibling that merely shares the prefix."""
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "rootx").mkdir()
    (tmp_path / "rootx" / "f").write_text("sibling")
    (root / "sib").symlink_to(tmp_path / "rootx")
    real = os.path.realpath(root)
    assert inside_root(real, "sib/f") is None
    assert inside_root(real, "") == real


def test_rules() -> None:
    rules = parse_rules(DEFAULT_RULES)
    assert cache_control(rules, "/stale/a.html", 60) == "max-age=0, must-revalidate"
    assert cache_control(rules, "/other.html", 60) == "public, max-age=60"
    assert cache_control(rules, "/other.html", -1) == ""
    assert cache_control(parse_rules("/x=none"), "/x", 60) == ""
    for bad in ("nopattern", "/x=", "x=1", "/x=a\nb"):
        with pytest.raises(ValueError):
            parse_rules(bad)


@pytest.mark.parametrize(("name", "kind"), [
    ("a.html", "text/html; charset=utf-8"), ("a.JSON", "application/json; charset=utf-8"),
    ("a.png", "image/png"), ("a.bin", "application/octet-stream"), ("noext", "application/octet-stream"),
    ("a.svg", "image/svg+xml; charset=utf-8"),
])
def test_content_type(name: str, kind: str) -> None:
    assert content_type(name) == kind
