"""The upload sink, `POST|PUT /_server/sink`, against the real server on 127.0.0.1: counts what it reads,
answers bad input with a clear status and a clean close, and disturbs nobody else meanwhile."""

from __future__ import annotations

import json
import socket
import statistics
import time
from collections.abc import Callable

from .conftest import Server, is_closed, read_replies
from .test_reliability import stats, timed_get

SINK = "/_server/sink"


def post(sock: socket.socket, body: bytes, *, declared: int | None = None, method: str = "POST",
         extra: str = "") -> None:
    length = len(body) if declared is None else declared
    sock.sendall(f"{method} {SINK} HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n{extra}\r\n".encode()
                 + body)


def test_an_upload_is_read_counted_and_the_connection_kept(server: Server) -> None:
    before = stats(server)
    with server.connect() as sock:
        post(sock, b"x" * 3_000_000)
        (reply,) = read_replies(sock, ["POST"])
        assert reply.status == 200 and reply.headers.get("Cache-Control") == "no-store"
        assert json.loads(reply.body)["bytes"] == 3_000_000
        chunked = b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
        sock.sendall(f"PUT {SINK} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                     + chunked)
        sock.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")  # the same connection goes on
        put, get = read_replies(sock, ["PUT", "GET"])
    assert json.loads(put.body)["bytes"] == 12 and get.status == 200
    after = stats(server)
    assert after["uploads"] - before["uploads"] == 2
    assert after["upload_bytes"] - before["upload_bytes"] == 3_000_012


def test_a_body_larger_than_allowed_gets_413_before_it_is_read_and_a_clean_close(
        spawn: Callable[..., Server]) -> None:
    srv = spawn("--sink-max", "1MiB")
    with srv.connect() as sock:
        post(sock, b"y" * 65536, declared=2 << 20)  # more follows than the client will ever send
        (reply,) = read_replies(sock, ["POST"])
        assert reply.status == 413 and b"exceeds the sink's limit of 1048576" in reply.body
        assert reply.headers.get("Connection") == "close" and is_closed(sock)
    with srv.connect() as sock:  # chunked: counted by the parser against the sink's limit as it comes
        sock.sendall(f"POST {SINK} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                     + b"".join(b"10000\r\n" + b"z" * 65536 + b"\r\n" for _ in range(17)))
        (reply,) = read_replies(sock, ["POST"])
        assert reply.status == 413 and is_closed(sock)
    assert "event=server.upload_refused" in srv.read_output()
    assert srv.get("/small.txt").status == 200


def test_other_paths_keep_the_servers_own_body_limit(server: Server) -> None:
    """The parser reads up to the sink's limit; every other request still gets 413 above --max-body."""
    with server.connect() as sock:
        sock.sendall(b"POST /index.html HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n")
        (reply,) = read_replies(sock, ["POST"])
        assert reply.status == 413 and is_closed(sock)


def test_only_post_and_put(server: Server) -> None:
    reply = server.get(SINK)
    assert reply.status == 405 and reply.headers.get("Allow") == "POST, PUT"


def test_a_body_that_never_ends_gets_408_and_a_concurrent_get_keeps_its_latency(server: Server) -> None:
    """--header-timeout 1s: a body that stops moving is refused after it (the connection core's deadline),
    and while it hangs, other clients are answered as fast as before."""
    baseline = statistics.median(timed_get(server, "/small.txt") for _ in range(10))
    with server.connect() as sock:
        post(sock, b"z" * 1000, declared=10_000)  # a wrong length: 9000 bytes never come
        started = time.monotonic()
        during = statistics.median(timed_get(server, "/small.txt") for _ in range(10))
        (reply,) = read_replies(sock, ["POST"], timeout_s=5.0)
        assert reply.status == 408 and is_closed(sock)
        assert 0.9 <= time.monotonic() - started < 4.0
    assert during < max(5 * baseline, 0.05), (baseline, during)


def test_a_trickle_is_refused_after_the_grace_period(spawn: Callable[..., Server]) -> None:
    """A byte every 0.4 s never trips the body pause deadline (1 s) but is far below --sink-min-rate."""
    srv = spawn("--header-timeout", "1s", "--sink-min-rate", "1000")
    with srv.connect(timeout_s=10) as sock:
        post(sock, b"", declared=100)
        started = time.monotonic()
        refused = None
        while refused is None and time.monotonic() - started < 9:
            try:
                sock.sendall(b".")
            except OSError:
                break
            sock.settimeout(0.4)
            try:
                refused = sock.recv(4096)
            except TimeoutError:
                continue
        assert refused is not None and refused.startswith(b"HTTP/1.1 408 ")
        assert b"upload slower than 1000 bit/s" in refused
        assert 5.0 <= time.monotonic() - started < 8.0


def test_a_longer_body_than_declared_leaves_garbage_that_gets_400(server: Server) -> None:
    with server.connect() as sock:
        post(sock, b"0123456789" + b"NOT A REQUEST\r\n\r\n", declared=10)
        first, second = read_replies(sock, ["POST", "GET"])
        assert first.status == 200 and json.loads(first.body)["bytes"] == 10
        assert second.status == 400 and is_closed(sock)
