"""Hostile input over real sockets: path tricks, limits, framing attacks, timeouts."""

from __future__ import annotations

import time

import pytest

from tests.integration.lingering import answer_to_a_bad_head_and_more

from .conftest import Server, is_closed, read_replies


@pytest.mark.parametrize("target", [
    "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/dir/../../secret.txt",
    "/..%2fsecret.txt", "/%252e%252e/secret.txt", "/small.txt%00", "/%00", "/..%5csecret.txt",
    "/dir%5c..%5c..%5csecret.txt", "/escape", "/.%2e/.%2e/secret.txt", "/%ff%fe", "//etc/passwd",
    "/missing.txt",
])
def test_path_tricks_get_404(server: Server, target: str) -> None:
    reply = server.exchange(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())[0]
    assert reply.status == 404
    assert b"outside" not in reply.body


def test_inside_symlink_and_dot_segments_are_served(server: Server) -> None:
    assert server.get("/alias.txt").status == 200
    assert server.get("/dir/./../small.txt").status == 200
    assert server.get("http://example/small.txt").status == 200


@pytest.mark.parametrize(("raw", "status"), [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"a" * 33000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n", 431),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n", 413),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
])
def test_hostile_requests_answered_and_closed(server: Server, raw: bytes, status: int) -> None:
    with server.connect() as sock:
        sock.sendall(raw)
        reply = read_replies(sock, ["GET"])[0]
        assert reply.status == status
        assert reply.headers.get("connection") == "close"
        assert b"Traceback" not in reply.body
        assert is_closed(sock)


def test_bad_target_is_400_but_keeps_the_connection(server: Server) -> None:
    raw = b"GET nothing HTTP/1.1\r\nHost: t\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n"
    assert [r.status for r in server.exchange(raw, ["GET", "GET"])] == [400, 200]


def test_header_timeout_408(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")  # never finishes the head
        started = time.monotonic()
        reply = read_replies(sock, ["GET"], timeout_s=5)[0]
        assert reply.status == 408
        assert 0.9 <= time.monotonic() - started < 4
        assert is_closed(sock)


def test_slowloris_drip_still_times_out(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        started = time.monotonic()
        for _ in range(30):
            try:
                sock.sendall(b"X: 1\r\n")
            except OSError:
                break
            time.sleep(0.1)
            if time.monotonic() - started > 2.5:
                break
        assert is_closed(sock, timeout_s=3)
        assert time.monotonic() - started < 4


def test_idle_keep_alive_timeout(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_replies(sock, ["GET"])[0].status == 200
        started = time.monotonic()
        assert is_closed(sock, timeout_s=6)
        assert 2.5 <= time.monotonic() - started < 5.5


def test_an_error_answer_survives_the_bytes_sent_after_the_bad_request(server: Server) -> None:
    """Lingering close: the 400 arrives and the connection ends cleanly, not with a reset."""
    with server.connect() as sock:
        data, reset = answer_to_a_bad_head_and_more(sock, b"GET / HTTP/1.1\r\nHost: t\r\nno colon\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 400 ")
        assert not reset
