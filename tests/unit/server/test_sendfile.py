"""`send_now`'s pump: whole ranges in one go, a partial count when the socket is full, errors on shrink."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from services.server.sendfile import _pump


def test_pump_sends_the_range(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    (tmp_path / "f").write_bytes(data)
    left, right = socket.socketpair()
    with left, right, open(tmp_path / "f", "rb") as handle:
        left.setblocking(False)
        assert _pump(left.fileno(), handle.fileno(), 100, 5000) == 5000
        got = b""
        while len(got) < 5000:
            got += right.recv(65536)
        assert got == data[100:5100]


def test_pump_stops_when_the_socket_is_full(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * (8 * 1024 * 1024))
    left, right = socket.socketpair()
    with left, right, open(tmp_path / "f", "rb") as handle:
        left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        left.setblocking(False)
        sent = _pump(left.fileno(), handle.fileno(), 0, 8 * 1024 * 1024)
        assert 0 < sent < 8 * 1024 * 1024  # the rest is left to loop.sendfile


def test_pump_refuses_a_shrunken_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"short")
    left, right = socket.socketpair()
    with left, right, open(tmp_path / "f", "rb") as handle, pytest.raises(OSError, match="shrank"):
        left.setblocking(False)
        _pump(left.fileno(), handle.fileno(), 0, 100)
