"""Issue 16 figures for the proxy, measured again: `python bench/proxy/reliability.py [SCENARIO …]`.

Each scenario starts a fresh `python -m services.proxy` on 127.0.0.1 in front of an origin in this
process, and prints one line of figures. Scenarios: slowloris, vary, rss, collapsed, sigterm, posts.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KIB = b"k" * 1024


class Origin(asyncio.Protocol):
    """/v (Vary: X-K), /other, /e/N (1 KiB, cacheable), /hang (never answers), /dl (8 MiB, no-store),
    /s (small, no-store, 1 s late); request bodies are read and dropped, then 200."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""
        self.body_left = 0

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.body_left:
                take = min(self.body_left, len(self.buf))
                self.body_left -= take
                self.buf = self.buf[take:]
                if self.body_left:
                    return
                self._send(b"200 OK", [b"Cache-Control: no-store"], b"ok")
            if b"\r\n\r\n" not in self.buf:
                return
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            if length and int(length.group(1)):
                self.body_left = int(length.group(1))
                continue
            self._route(head.split(b" ", 2)[1])

    def _route(self, path: bytes) -> None:
        if path == b"/hang":
            return
        if path.startswith(b"/v"):
            self._send(b"200 OK", [b"Cache-Control: max-age=600", b"Vary: X-K"], KIB)
        elif path == b"/dl":
            asyncio.get_running_loop().call_later(0.3, self._send, b"200 OK", [b"Cache-Control: no-store"],
                                                  b"d" * (8 << 20))
        elif path == b"/s":
            asyncio.get_running_loop().call_later(1.0, self._send, b"200 OK", [b"Cache-Control: no-store"],
                                                  b"s")
        else:
            self._send(b"200 OK", [b"Cache-Control: max-age=600"], KIB)

    def _send(self, status: bytes, fields: list[bytes], body: bytes) -> None:
        if not self.transport.is_closing():
            head = b"HTTP/1.1 " + status + b"\r\n" + b"".join(f + b"\r\n" for f in fields)
            self.transport.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)


class Proxy:
    def __init__(self, origin_port: int, *args: str, repo: Path = REPO) -> None:
        """`repo`: the checkout whose `services.proxy` runs (bench/proxy/hygiene.py --repo)."""
        env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.proxy", "--bind", "127.0.0.1", "--http-port", "0",
             "--udp-port", "0", "--upstream", f"127.0.0.1:{origin_port}", "--upstream-udp", "127.0.0.1:9",
             "--no-access-log", *args],
            cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        self.lines: list[str] = []
        for line in self.proc.stdout:
            self.lines.append(line)
            found = re.search(r"event=proxy.listening http=127.0.0.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                break
        # keep reading its log: a full pipe would block the proxy on its next log line
        self.pump = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout or ()), daemon=True)
        self.pump.start()

    def rss_kib(self) -> int:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", text).group(1))  # type: ignore[union-attr]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self.pump.join(5)
        return code


async def exchange(port: int, raw: bytes, timeout_s: float = 60.0) -> tuple[int, int]:
    """One request on a new connection: (status, body bytes) — body read until close or length."""
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        got = len(await reader.readexactly(int(length.group(1)))) if length else 0
        writer.close()
        return status, got


async def keepalive_gets(port: int, paths: list[bytes], headers: bytes = b"") -> list[float]:
    """GETs on one keep-alive connection; the latency of each in seconds."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    for path in paths:
        started = time.perf_counter()
        writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: b\r\n" + headers + b"\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        out.append(time.perf_counter() - started)
    writer.close()
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def slowloris(origin_port: int) -> str:
    proxy = Proxy(origin_port)  # defaults: --header-timeout 10s
    try:
        async def one() -> tuple[float, bytes]:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            started = time.monotonic()

            async def trickle() -> None:
                for byte in b"GET / HTTP/1.1\r\nHost: b\r\nX-Padding: " + b"y" * 100:
                    writer.write(bytes([byte]))
                    await asyncio.sleep(1)
            task = asyncio.create_task(trickle())
            try:
                data = await asyncio.wait_for(reader.read(), 60)
            except ConnectionResetError:  # closed while we were still sending: a close all the same
                data = b"reset"
            task.cancel()
            writer.close()
            return time.monotonic() - started, data[:12]

        results = await asyncio.gather(*(one() for _ in range(1000)), return_exceptions=True)
        done = [r for r in results if not isinstance(r, BaseException)]
        times = [t for t, _ in done]
        answered_408 = sum(1 for _, d in done if d.startswith(b"HTTP/1.1 408"))
        if not times:
            return f"slowloris: no connection finished: {results[:3]}"
        return (f"slowloris: 1000 connections at 1 byte/s, {len(done)} closed, {answered_408} with 408, "
                f"after min {min(times):.1f} / median {statistics.median(times):.1f} / "
                f"max {max(times):.1f} s (--header-timeout 10s)")
    finally:
        proxy.stop()


async def vary(origin_port: int) -> str:
    proxy = Proxy(origin_port)
    try:
        await keepalive_gets(proxy.port, [b"/other"])
        reference = await keepalive_gets(proxy.port, [b"/other"] * 400)
        stop = asyncio.Event()

        async def flood(worker: int) -> int:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            sent = 0
            while not stop.is_set():
                writer.write(b"GET /v HTTP/1.1\r\nHost: b\r\nX-K: %d-%d\r\n\r\n" % (worker, sent))
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                sent += 1
            writer.close()
            return sent

        flooders = [asyncio.create_task(flood(w)) for w in range(4)]
        await asyncio.sleep(2)  # thousands of variants by now
        victim = await keepalive_gets(proxy.port, [b"/other"] * 400)
        stop.set()
        sent = sum(await asyncio.gather(*flooders))
        return (f"vary flood: {sent} distinct X-K values from 4 clients; victim GET /other p50/p99 "
                f"{pct(victim, .5):.2f}/{pct(victim, .99):.2f} ms vs reference {pct(reference, .5):.2f}/"
                f"{pct(reference, .99):.2f} ms before the flood (same run)")
    finally:
        proxy.stop()


async def rss(origin_port: int) -> str:
    proxy = Proxy(origin_port, "--cache-size", "16MiB")
    try:
        await keepalive_gets(proxy.port, [b"/warm"])
        before = proxy.rss_kib()
        count = 40_000
        await asyncio.gather(*(keepalive_gets(proxy.port, [b"/e/%d" % i for i in range(w, count, 4)])
                               for w in range(4)))
        after = proxy.rss_kib()
        raw = (await asyncio.to_thread(_stats, proxy.port))
        grown = (after - before) / 1024
        return (f"rss: --cache-size 16MiB, {count} distinct 1 KiB objects: RSS +{grown:.1f} MiB "
                f"({grown / 16:.2f}× the bound), entries {raw['entries']}, bytes_used {raw['bytes_used']}, "
                f"evictions {raw['evictions']}")
    finally:
        proxy.stop()


def _stats(port: int) -> dict[str, int]:
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_proxy/stats", timeout=10) as reply:
        data: dict[str, int] = json.loads(reply.read())
        return data


async def collapsed(origin_port: int) -> str:
    proxy = Proxy(origin_port, "--upstream-timeout", "2s")
    try:
        async def timed(delay: float) -> tuple[float, int]:
            await asyncio.sleep(delay)
            started = time.monotonic()
            status, _ = await exchange(proxy.port, b"GET /hang HTTP/1.1\r\nHost: b\r\n\r\n", 30)
            return time.monotonic() - started, status

        results = await asyncio.gather(*(timed(d) for d in (0, 0.5, 1.0, 1.5)))
        shown = ", ".join(f"{s} after {t:.2f} s" for t, s in results)
        return f"collapsed: --upstream-timeout 2s, leader then 3 followers 0.5 s apart: {shown}"
    finally:
        proxy.stop()


async def sigterm(origin_port: int) -> str:
    proxy = Proxy(origin_port, "--shutdown-timeout", "5s")
    try:
        downloads = [asyncio.create_task(exchange(proxy.port, b"GET /dl HTTP/1.1\r\nHost: b\r\n\r\n"))
                     for _ in range(4)]
        smalls = [asyncio.create_task(exchange(proxy.port, b"GET /s HTTP/1.1\r\nHost: b\r\n\r\n"))
                  for _ in range(8)]
        await asyncio.sleep(0.2)
        started = time.monotonic()
        proxy.proc.send_signal(signal.SIGTERM)
        results = await asyncio.gather(*downloads, *smalls, return_exceptions=True)
        code = await asyncio.to_thread(proxy.proc.wait, 30)
        took = time.monotonic() - started
        full_dl = sum(1 for r in results[:4] if r == (200, 8 << 20))
        full_small = sum(1 for r in results[4:] if r == (200, 1))
        return (f"sigterm: 4 downloads of 8 MiB + 8 small requests in flight: {full_dl}/4 downloads and "
                f"{full_small}/8 small answers complete, exit {code} after {took:.2f} s")
    finally:
        proxy.stop()


async def posts(origin_port: int) -> str:
    proxy = Proxy(origin_port)
    try:
        before = proxy.rss_kib()
        peak = before
        size = 60 << 20

        async def post() -> int:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"POST /up HTTP/1.1\r\nHost: b\r\nContent-Length: %d\r\n\r\n" % size)
            chunk = b"p" * (1 << 20)
            try:
                for _ in range(60):
                    writer.write(chunk)
                    await writer.drain()
            except ConnectionError:
                pass  # refused early (503 and close): its answer is read below
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                head = getattr(exc, "partial", b"") or b"HTTP/1.1 000 reset"
            writer.close()
            return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1") else 0

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, proxy.rss_kib())
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        statuses = await asyncio.gather(*(post() for _ in range(4)))
        sampler.cancel()
        return (f"posts: 4 × 60 MiB POSTs at once: statuses {sorted(statuses)}, proxy RSS peak "
                f"+{(peak - before) / 1024:.0f} MiB (--body-buffer 64MiB)")
    finally:
        proxy.stop()


SCENARIOS: dict[str, Callable[[int], Awaitable[str]]] = {
    "slowloris": slowloris, "vary": vary, "rss": rss, "collapsed": collapsed, "sigterm": sigterm,
    "posts": posts}


async def main(names: list[str]) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = await asyncio.get_running_loop().create_server(Origin, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for name in names or list(SCENARIOS):
        print(await SCENARIOS[name](port), flush=True)
    server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
