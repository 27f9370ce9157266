"""The echo asks for large socket buffers: probe bursts queue there, and the default dropped at 60-80 kpps."""

from __future__ import annotations

import socket
from pathlib import Path

from services.server.app import _size_buffers


def test_echo_socket_buffers_are_raised_up_to_the_kernel_cap() -> None:
    cap = int(Path("/proc/sys/net/core/rmem_max").read_text())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        default = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        _size_buffers(sock, 4 << 20)
        raised = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    assert raised >= min(4 << 20, cap)  # Linux reports twice what it grants
    assert raised > default or cap * 2 <= default
