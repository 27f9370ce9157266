"""Methods, versions, headers, keep-alive, pipelining, Connection: close (raw sockets)."""

from __future__ import annotations

import os
from collections.abc import Callable

from services.common.http1 import parse_http_date
from services.server.sendfile import SYNC_MAX

from .conftest import LARGE_SIZE, Server, is_closed, read_replies


def test_get_headers_and_body(server: Server) -> None:
    reply = server.get("/small.txt")
    assert reply.status == 200
    assert reply.body == (server.root / "small.txt").read_bytes()
    headers = reply.headers
    assert headers.get("content-type") == "text/plain; charset=utf-8"
    assert headers.get("content-length") == str(len(reply.body))
    assert headers.get("server") == "qoslab"
    assert parse_http_date(headers.get("date") or "") is not None
    assert parse_http_date(headers.get("last-modified") or "") is not None
    assert (headers.get("etag") or "").startswith('"')
    assert headers.get("cache-control") == "public, max-age=60"
    assert headers.get("accept-ranges") == "bytes"


def test_index_and_content_types(server: Server) -> None:
    assert server.get("/").body == b"<h1>home</h1>\n"
    assert server.get("/style.css").headers.get("content-type") == "text/css; charset=utf-8"
    assert server.get("/large.bin").headers.get("content-type") == "application/octet-stream"
    assert server.get("/sp%20ace.txt").body == b"space\n"


def test_head_has_same_headers_and_no_body(server: Server) -> None:
    raw = b"HEAD /small.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n"
    head, get = server.exchange(raw, ["HEAD", "GET"])
    assert head.body == b"" and get.body
    assert head.headers.get("content-length") == get.headers.get("content-length")
    assert head.headers.get("etag") == get.headers.get("etag")


def test_options_and_405(server: Server) -> None:
    options = server.get("*", method="OPTIONS")
    assert options.status == 200 and options.headers.get("allow") == "GET, HEAD, OPTIONS"
    raw = (b"POST /small.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
           b"DELETE / HTTP/1.1\r\nHost: t\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    post, delete, get = server.exchange(raw, ["POST", "DELETE", "GET"])
    assert post.status == delete.status == 405
    assert post.headers.get("allow") == "GET, HEAD, OPTIONS"
    assert get.status == 200


def test_unknown_version_505(server: Server) -> None:
    reply = server.exchange(b"GET / HTTP/2.0\r\nHost: t\r\n\r\n")[0]
    assert reply.status == 505


def test_pipelining_in_order_across_sendfile(server: Server) -> None:
    raw = b"".join(f"GET {p} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
                   for p in ("/small.txt", "/large.bin", "/missing", "/dir/"))
    replies = server.exchange(raw, ["GET"] * 4)
    assert [r.status for r in replies] == [200, 200, 404, 200]
    assert replies[1].body == (server.root / "large.bin").read_bytes()
    assert len(replies[1].body) == LARGE_SIZE
    assert replies[3].body == b"<p>dir index</p>\n"


def test_keep_alive_then_connection_close(server: Server) -> None:
    with server.connect() as sock:
        for _ in range(3):
            sock.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_replies(sock, ["GET"])[0].status == 200
        sock.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        reply = read_replies(sock, ["GET"])[0]
        assert reply.headers.get("connection") == "close"
        assert is_closed(sock)


def test_http10_closes_unless_keep_alive(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /small.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        reply = read_replies(sock, ["GET"])[0]
        assert reply.headers.get("connection") == "keep-alive"
        sock.sendall(b"GET /small.txt HTTP/1.0\r\n\r\n")
        assert read_replies(sock, ["GET"])[0].status == 200
        assert is_closed(sock)


def test_get_with_body_is_drained(server: Server) -> None:
    raw = (b"GET /small.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
           b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert [r.status for r in server.exchange(raw, ["GET", "GET"])] == [200, 200]


def test_large_file_full_and_range_via_sendfile(server: Server) -> None:
    data = (server.root / "large.bin").read_bytes()
    assert server.get("/large.bin").body == data
    reply = server.get("/large.bin", "Range: bytes=100000-200000")
    assert reply.status == 206 and reply.body == data[100000:200001]


def test_special_endpoints(server: Server) -> None:
    import json

    health = server.get("/_server/health")
    assert health.status == 200 and health.body == b"ok\n"
    stats = server.get("/_server/stats")
    assert stats.headers.get("cache-control") == "no-store"
    data = json.loads(stats.body)
    assert data["http"]["requests_total"] >= 1 and "udp" in data


def test_access_log_line(server: Server) -> None:
    server.get("/small.txt?logcheck")
    import time

    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and "path=/small.txt?logcheck" not in server.read_output():
        time.sleep(0.05)
    line = next(x for x in server.lines if "path=/small.txt?logcheck" in x)
    assert "event=http.access" in line and "status=200" in line and "method=GET" in line
    assert "client=127.0.0.1:" in line and "bytes=" in line and "dur_ms=" in line


def test_file_beyond_the_synchronous_sendfile_part(spawn: Callable[..., Server]) -> None:
    """Past SYNC_MAX the rest goes through loop.sendfile; the next pipelined request still follows."""
    srv = spawn()
    data = os.urandom(SYNC_MAX + 70_001)
    (srv.root / "huge.bin").write_bytes(data)
    raw = b"GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n"
    replies = srv.exchange(raw, ["GET", "GET"], timeout_s=20)
    assert [r.status for r in replies] == [200, 200]
    assert replies[0].body == data
    assert replies[1].body == (srv.root / "small.txt").read_bytes()
