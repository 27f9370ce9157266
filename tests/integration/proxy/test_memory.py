"""The proxy gives memory back (issue 25), on a real process (RSS from /proc). Not
timed: each test waits for the event it needs (its requests answered, the release's log line) and then
compares resident memory with the value before the load. The figures behind the margins are in
docs/proxy.md (`python bench/proxy/hygiene.py bursts slow-readers`)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
from pathlib import Path

import pytest

from .harness import Origin, Reply, get, request
from .test_reliability import reap, spawn_proxy

MIB = 1 << 20
# With `--allocator malloc`, resident memory is back within this of its value before the bursts after the
# release (measured here: +3 MiB after 4 bursts of 2,000 that had taken it +30 MiB; with the default
# pymalloc +16 to +22 MiB, its arenas pinned by survivors; docs/proxy.md has the bench's 8 × 5,000).
RELEASE_MARGIN = 10 * MIB
BIG = 4 * MIB


def rss(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", text)
    assert found is not None
    return int(found.group(1)) * 1024


async def miss(port: int, index: int) -> int:
    try:
        raw = f"GET /n?{index} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
        return (await request(port, raw, timeout_s=60)).status
    except (OSError, TimeoutError):
        return 0


async def wait_for(lines: list[str], event: str, timeout_s: float) -> str:
    async with asyncio.timeout(timeout_s):
        while True:
            found = [line for line in lines if f"event={event}" in line]
            if found:
                return found[-1]
            await asyncio.sleep(0.1)


def test_memory_returns_after_bursts_of_concurrent_misses() -> None:
    async def main() -> None:
        origin = Origin()
        await origin.start()
        origin.routes["/n"] = Reply(headers=[("Cache-Control", "no-store")], body=b"n" * 1024)
        proc, port, lines = await asyncio.to_thread(spawn_proxy, origin.port, "--allocator", "malloc")
        try:
            for index in range(20):
                assert await miss(port, index) == 200
            before, peak = rss(proc.pid), 0
            for burst in range(4):
                statuses = await asyncio.gather(*(miss(port, burst * 2000 + i) for i in range(2000)))
                assert statuses.count(200) == 2000
                peak = max(peak, rss(proc.pid))
            released = await wait_for(lines, "proxy.memory_released", 30)
            after = rss(proc.pid)
            assert peak - before > RELEASE_MARGIN, (before, peak)  # the bursts did take memory
            assert after - before < RELEASE_MARGIN, (before, peak, after, released)
        finally:
            await asyncio.to_thread(reap, proc)
            await origin.stop()

    asyncio.run(main())


@pytest.mark.parametrize("path", ["fast", "full"])
def test_slow_readers_of_a_large_hit_share_its_body(path: str) -> None:
    """20 clients that read nothing of a 4 MiB hit: the proxy holds one copy of the body (the stored one)
    and a bounded window per client, not a copy per client; dropped, they leave nothing behind. The fast
    path answers plain GETs with the access log off; the access log sends every request the full way."""
    async def main() -> None:
        origin = Origin()
        await origin.start()
        origin.routes["/big"] = Reply(headers=[("Cache-Control", "max-age=600")], body=b"b" * BIG)
        flags = ["--access-log"] if path == "full" else []
        proc, port, _ = await asyncio.to_thread(spawn_proxy, origin.port, *flags)
        clients: list[socket.socket] = []
        try:
            assert len((await get(port, "/big")).body) == BIG
            before = rss(proc.pid)
            for _ in range(20):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.connect(("127.0.0.1", port))
                sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
                clients.append(sock)
            async with asyncio.timeout(30):  # every one of them answered (a HIT is counted when it begins)
                while json.loads((await get(port, "/_proxy/stats")).body)["hits"] < 20:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # what the proxy wrote has reached its socket buffers
            held = rss(proc.pid) - before
            for sock in clients:  # a reset: the proxy sees each client gone at once
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            clients.clear()
            await asyncio.sleep(0.5)
            left = rss(proc.pid) - before
            assert held < 2 * BIG, held  # 20 copies would be 80 MiB (before: +27 MiB held)
            assert left < BIG, left      # (before: +26 MiB stayed)
            assert len((await get(port, "/big")).body) == BIG
        finally:
            for sock in clients:
                sock.close()
            await asyncio.to_thread(reap, proc)
            await origin.stop()

    asyncio.run(main())
