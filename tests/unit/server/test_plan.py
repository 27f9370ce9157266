"""Request → plan: methods, conditionals, ranges (table-driven, real temp files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.http1 import Headers, Request
from services.server.files import FileEntry, Site
from services.server.plan import IGNORE, UNSATISFIABLE, byte_range, plan_request
from services.server.rules import parse_rules


def site(tmp_path: Path, **kwargs: object) -> Site:
    (tmp_path / "f.txt").write_bytes(b"0123456789")
    (tmp_path / "d").mkdir()
    (tmp_path / "big.bin").write_bytes(b"x" * 5000)
    return Site(str(tmp_path), parse_rules("/d/*=no-store"), 60, small_max=1000, **kwargs)  # type: ignore[arg-type]


def req(target: str, *headers: tuple[str, str], method: str = "GET") -> Request:
    return Request(method, target, "HTTP/1.1", Headers([("Host", "t"), *headers]))


@pytest.mark.parametrize(("value", "expected"), [
    ("bytes=0-0", (0, 0)), ("bytes=2-", (2, 9)), ("bytes=-3", (7, 9)), ("bytes=5-100", (5, 9)),
    ("bytes=10-", UNSATISFIABLE), ("bytes=-0", UNSATISFIABLE), ("bytes=3-2", IGNORE),
    ("bytes=0-1,3-4", IGNORE), ("bytes=x", IGNORE), ("lines=0-1", IGNORE), ("bytes=-", IGNORE),
    ("bytes", IGNORE), ("BYTES = 1-2", (1, 2)), ("bytes=\t1 -\t2 ", (1, 2)),
    # ASCII digits only, at most 18, and only SP/HTAB around them (issue 16)
    ("bytes=\xb2-", IGNORE), ("bytes=-\xb2", IGNORE), ("bytes=\u0661-2", IGNORE), ("bytes=1-2\xa0", IGNORE),
    ("bytes=" + "9" * 5000 + "-", IGNORE), ("bytes=1_0-", IGNORE), ("bytes=+1-", IGNORE),
    ("bytes=" + " " * 30000 + "x", IGNORE),  # `\s*([0-9]{0,18})\s*` was quadratic in such runs
])
def test_byte_range(value: str, expected: object) -> None:
    assert byte_range(value, 10) == expected


def test_methods_and_targets(tmp_path: Path) -> None:
    s = site(tmp_path)
    assert plan_request(req("/f.txt", method="PUT"), s, {}, 0).status == 405
    assert plan_request(req("*", method="OPTIONS"), s, {}, 0).status == 200
    assert plan_request(req("f.txt"), s, {}, 0).status == 400
    assert plan_request(req("/nope"), s, {}, 0).status == 404
    assert plan_request(req("/d"), s, {}, 0).status == 301
    assert plan_request(req("/d/"), s, {}, 0).status == 404
    assert plan_request(req("/x"), s, {"/x": lambda: ("text/plain", b"hi")}, 0).body == b"hi"


def test_full_and_range_plans(tmp_path: Path) -> None:
    s = site(tmp_path)
    full = plan_request(req("/f.txt"), s, {}, 0)
    assert full.status == 200 and full.entry is not None and full.entry.body == b"0123456789"
    part = plan_request(req("/f.txt", ("Range", "bytes=2-4")), s, {}, 0)
    assert (part.status, part.offset, part.length) == (206, 2, 3)
    assert b"Content-Range: bytes 2-4/10" in part.head
    big = plan_request(req("/big.bin"), s, {}, 0)
    assert big.entry is not None and big.entry.body is None and big.length == 5000


def test_conditionals(tmp_path: Path) -> None:
    s = site(tmp_path)
    entry = s.find("/f.txt", 0)
    assert isinstance(entry, FileEntry)
    assert plan_request(req("/f.txt", ("If-None-Match", entry.etag)), s, {}, 0).status == 304
    assert plan_request(req("/f.txt", ("If-None-Match", "*")), s, {}, 0).status == 304
    assert plan_request(req("/f.txt", ("If-Modified-Since", entry.last_modified)), s, {}, 0).status == 304
    assert plan_request(req("/f.txt", ("If-Modified-Since", "garbage")), s, {}, 0).status == 200
    assert plan_request(req("/f.txt", ("If-Match", '"x"')), s, {}, 0).status == 412
    assert plan_request(req("/f.txt", ("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")),
                        s, {}, 0).status == 412
    # only SP/HTAB around list members: `"etag"\xa0` is another tag, not this one (issue 16)
    assert plan_request(req("/f.txt", ("If-None-Match", f" {entry.etag}\t, x")), s, {}, 0).status == 304
    assert plan_request(req("/f.txt", ("If-None-Match", entry.etag + "\xa0")), s, {}, 0).status == 200
    assert plan_request(req("/f.txt", ("If-Match", "\x85" + entry.etag)), s, {}, 0).status == 412


def test_cache_refreshes_after_ttl(tmp_path: Path) -> None:
    s = site(tmp_path, ttl_s=1.0)
    first = s.find("/f.txt", 0)
    (tmp_path / "f.txt").write_bytes(b"changed!!!!")
    assert s.find("/f.txt", 0.5) is first
    second = s.find("/f.txt", 2.0)
    assert isinstance(second, FileEntry) and second.body == b"changed!!!!"
    (tmp_path / "f.txt").unlink()
    assert s.find("/f.txt", 4.0) is None
