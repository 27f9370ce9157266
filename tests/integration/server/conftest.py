"""Start `python -m services.server` on 127.0.0.1 with a temporary root; raw-socket helpers."""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.common.http1 import Data, EndOfMessage, Headers, HTTPError, Response, ResponseParser

REPO = Path(__file__).resolve().parents[3]
LISTENING = re.compile(r"event=server\.listening http=127\.0\.0\.1:(\d+) udp=127\.0\.0\.1:(\d+)")
LARGE_SIZE = 300 * 1024 + 17


@dataclass
class Reply:
    status: int
    headers: Headers
    body: bytes


@dataclass
class Server:
    proc: subprocess.Popen[str]
    http_port: int
    udp_port: int
    root: Path
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def connect(self, timeout_s: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.http_port), timeout=timeout_s)

    def exchange(self, raw: bytes, methods: list[str] | None = None, timeout_s: float = 5.0) -> list[Reply]:
        """Send `raw` on a new connection; read the responses (one per method) or until close."""
        with self.connect(timeout_s) as sock:
            sock.sendall(raw)
            return read_replies(sock, methods or ["GET"], timeout_s)

    def get(self, path: str, *headers: str, method: str = "GET") -> Reply:
        extra = "".join(f"{h}\r\n" for h in headers)
        raw = f"{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()
        return self.exchange(raw, [method])[0]

    def read_output(self) -> str:
        return "\n".join(self.lines)


def read_replies(sock: socket.socket, methods: list[str], timeout_s: float = 5.0) -> list[Reply]:
    parser = ResponseParser()
    for method in methods:
        parser.expect(method)
    replies: list[Reply] = []
    current: Reply | None = None
    deadline = time.monotonic() + timeout_s
    while len(replies) < len(methods) and time.monotonic() < deadline:
        event = parser.next_event()
        if event is None:
            try:
                data = sock.recv(1 << 20)
            except (ConnectionResetError, TimeoutError):
                data = b""
            if not data:
                parser.feed_eof()
                try:
                    event = parser.next_event()
                except HTTPError:
                    break
                if event is None:
                    break
            else:
                parser.feed(data)
                continue
        if isinstance(event, Response) and event.status >= 200:
            current = Reply(event.status, event.headers, b"")
        elif isinstance(event, Data) and current is not None:
            current.body += event.data
        elif isinstance(event, EndOfMessage) and current is not None:
            replies.append(current)
            current = None
    return replies


def is_closed(sock: socket.socket, timeout_s: float = 3.0) -> bool:
    """True if the peer closes (EOF or reset) within `timeout_s`."""
    sock.settimeout(timeout_s)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def make_root(root: Path) -> Path:
    (root / "dir").mkdir(parents=True)
    (root / "empty").mkdir()
    for name in ("fresh", "stale", "nostore", "private"):
        (root / name).mkdir()
        (root / name / "page.html").write_text(f"<p>{name}</p>\n")
    (root / "index.html").write_text("<h1>home</h1>\n")
    (root / "small.txt").write_bytes(bytes(range(48, 58)) * 10)
    (root / "dir" / "index.html").write_text("<p>dir index</p>\n")
    (root / "style.css").write_text("body{}\n")
    (root / "large.bin").write_bytes(os.urandom(LARGE_SIZE))
    (root / "sp ace.txt").write_text("space\n")
    secret = root.parent / "secret.txt"
    secret.write_text("outside\n")
    (root / "escape").symlink_to(secret)
    (root / "alias.txt").symlink_to(root / "small.txt")
    return root


def _pump(proc: subprocess.Popen[str], lines: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))


def start_server(root: Path, *extra: str, fd_limits: tuple[int, int] | None = None) -> Server:
    """Start a server; `fd_limits` sets its (soft, hard) RLIMIT_NOFILE before it runs."""
    cmd = [sys.executable, "-m", "services.server", "--bind", "127.0.0.1", "--http-port", "0",
           "--udp-port", "0", "--root", str(root), "--small-file-max", "64KiB", *extra]

    def limit_fds() -> None:
        if fd_limits is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, fd_limits)

    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, preexec_fn=limit_fds)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        found = LISTENING.search(line)
        if found:
            srv = Server(proc, int(found.group(1)), int(found.group(2)), root, lines)
            srv.reader = threading.Thread(target=_pump, args=(proc, lines), daemon=True)
            srv.reader.start()
            return srv
    proc.kill()
    raise RuntimeError("server did not start:\n" + "\n".join(lines))


def stop_server(server: Server) -> int:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        code = server.proc.wait(timeout=5)
    if server.reader is not None:
        server.reader.join(timeout=5)
    if server.proc.stdout is not None:
        server.proc.stdout.close()
    return code


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = make_root(tmp_path_factory.mktemp("site") / "www")
    srv = start_server(root, "--header-timeout", "1s", "--idle-timeout", "3s")
    yield srv
    stop_server(srv)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def run(*extra: str, fd_limits: tuple[int, int] | None = None) -> Server:
        srv = start_server(make_root(tmp_path / "www"), *extra, fd_limits=fd_limits)
        started.append(srv)
        return srv

    yield run
    for srv in started:
        stop_server(srv)
