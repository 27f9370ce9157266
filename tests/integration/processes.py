"""Start qoslab services as real processes on 127.0.0.1 with free ports, and stop them.

Each service logs `event=NAME.listening http=HOST:PORT udp=HOST:PORT` once it is bound; `start`
waits for that line and returns the addresses, so tests never guess ports.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netem.tools.process import stop

REPO = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"event=\S+\.listening\b(?P<rest>.*)")
_ADDR = re.compile(r"\b(?P<key>http|udp)=\[?(?P<host>(?<=\[)[^\]\s]+|[^\s:\[,]+)\]?:(?P<port>\d+)")


@dataclass
class Service:
    proc: subprocess.Popen[str]
    addresses: dict[str, tuple[str, int]]
    lines: list[str] = field(default_factory=list)

    @property
    def http(self) -> tuple[str, int]:
        return self.addresses["http"]

    @property
    def udp(self) -> tuple[str, int]:
        return self.addresses["udp"]

    def output(self) -> str:
        return "\n".join(self.lines)


def parse_listening(line: str) -> dict[str, tuple[str, int]] | None:
    """Addresses from a `*.listening` log line, or None for any other line."""
    match = _LISTENING.search(line)
    if not match:
        return None
    return {m["key"]: (m["host"], int(m["port"])) for m in _ADDR.finditer(match["rest"])}


def _pump(stream: object, lines: list[str], found: queue.Queue[dict[str, tuple[str, int]]]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.append(line.rstrip("\n"))
        addresses = parse_listening(line)
        if addresses:
            found.put(addresses)


@contextmanager
def running(module: str, *args: str, timeout_s: float = 15.0,
            env: dict[str, str] | None = None) -> Iterator[Service]:
    """Run `python -m module args…`, wait for its listening line, stop it with SIGTERM afterwards."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    found: queue.Queue[dict[str, tuple[str, int]]] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines, found), daemon=True).start()
    try:
        deadline = time.monotonic() + timeout_s
        addresses = None
        while addresses is None and time.monotonic() < deadline and proc.poll() is None:
            with suppress(queue.Empty):
                addresses = found.get(timeout=0.1)
        if addresses is None:
            raise AssertionError(f"{module} did not report listening within {timeout_s} s:\n"
                                 + "\n".join(lines[-40:]))
        yield Service(proc, addresses, lines)
    finally:
        stop(proc)


def internal_json(http: tuple[str, int], path: str) -> Any:
    """A service's internal JSON endpoint (`/_proxy/stats`, `/_server/stats`) read over one connection."""
    with socket.create_connection(http, timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])
