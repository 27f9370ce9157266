"""UDP echo over a real socket, stats, and graceful SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Callable

from services.common import probe

from .conftest import Server, read_replies, stop_server


def test_udp_probe_stamped_and_plain_echoed(server: Server) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sent_ns = time.time_ns()
        sock.sendto(probe.encode(probe.Probe(7, 3, sent_ns), 200), ("127.0.0.1", server.udp_port))
        data, _ = sock.recvfrom(4096)
        reply = probe.decode(data)
        assert len(data) == 200 and reply.is_reply and reply.is_stamped
        assert (reply.test_id, reply.seq, reply.client_send_ns) == (7, 3, sent_ns)
        assert sent_ns <= reply.server_recv_ns <= reply.server_send_ns <= time.time_ns()
        sock.sendto(b"plain text", ("127.0.0.1", server.udp_port))
        assert sock.recvfrom(4096)[0] == b"plain text"
    stats = json.loads(server.get("/_server/stats").body)
    assert stats["udp"]["datagrams"] >= 2 and stats["udp"]["probes"] >= 1


def test_sigterm_finishes_in_flight_response(spawn: Callable[..., Server]) -> None:
    srv = spawn("--shutdown-timeout", "5s")
    size = (srv.root / "large.bin").stat().st_size
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)  # slow reader: before connect
    busy.settimeout(5)
    busy.connect(("127.0.0.1", srv.http_port))
    with busy, srv.connect() as idle:
        busy.sendall(b"GET /large.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        idle.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_replies(idle, ["GET"])[0].status == 200
        time.sleep(0.2)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        replies = read_replies(busy, ["GET"], timeout_s=5)
        assert replies, srv.read_output()
        reply = replies[0]
        assert reply.status == 200 and len(reply.body) == size
        idle.settimeout(3)
        assert idle.recv(10) == b""
    assert srv.proc.wait(timeout=5) == 0
    stop_server(srv)  # already exited: this joins the output reader, so every line is in srv.lines
    assert any("event=server.stopped" in line for line in srv.lines), srv.read_output()[-2000:]


def test_workers_share_the_port(spawn: Callable[..., Server]) -> None:
    srv = spawn("--workers", "2")
    assert all(srv.get("/small.txt").status == 200 for _ in range(10))
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=8) == 0
