"""Issue 25 figures for the proxy: cookies, Vary variants, memory.

    python bench/proxy/hygiene.py [--repo DIR] [--peers] [SCENARIO ...]

Scenarios (all by default): cookies, variants, bursts, cache-rss, slow-readers. Each starts a fresh
`python -m services.proxy` on 127.0.0.1 in front of an origin in this process and prints its figures.
`--repo DIR` runs the proxy of another checkout (the commit before a change: `git archive COMMIT | tar -x
-C DIR`), so before and after are measured by the same script; `--peers` adds Varnish (default VCL) and
nginx (`proxy_cache`, defaults) to `cookies`, in front of the same origin.

- cookies: every response of the origin sets its own `Set-Cookie: session=N`; Alice then Bob GET one URL
  per Cache-Control; what Bob gets. Then a cached plain response and a request carrying `Cookie`.
- variants: `--cache-size 1MiB`, `Vary: X-K`, 3,000 requests on one connection, a hot value every
  `--hot-every` requests and one-off values between: evictions and the hot value's hits per 1,000.
- bursts: `--bursts` bursts of `--burst` concurrent connections, each one MISS (`no-store`, 1 KiB), all
  closed; the proxy's RSS before, after each burst, and `--settle` seconds after the last.
- cache-rss: `--cache-size 16MiB` filled twice over with objects of 1 KiB, 16 KiB, 256 KiB: RSS growth
  per byte the store charges (`bytes_used`) and per body byte stored.
- slow-readers: 20 clients ask for a stored 4 MiB response and read nothing (4 KiB receive buffers):
  RSS growth while they are connected and after they are dropped, against 20 copies of the body.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar

from origin import HeadsOrigin
from reliability import REPO, Proxy, _stats, keepalive_gets

MIB = 1 << 20
COOKIE_CC = {"public": "public, max-age=60", "s-maxage": "s-maxage=60",
             "no-cache=Set-Cookie": 'max-age=60, no-cache="Set-Cookie"'}


class Origin(HeadsOrigin):
    """/c/NAME (Cache-Control per COOKIE_CC, its own Set-Cookie per request; /c/plain: none), /v (Vary:
    X-K), /n/… (no-store), /o/SIZE/… (SIZE bytes), /big (4 MiB); counts requests per path."""

    counts: ClassVar[dict[str, int]] = {}

    def answer(self, raw_path: bytes) -> bytes:
        path = raw_path.decode()
        serial = self.counts[path] = self.counts.get(path, 0) + 1
        fields, body = route(path.split("?")[0], serial)
        head = "".join(f"{f}\r\n" for f in ["HTTP/1.1 200 OK", *fields, f"Content-Length: {len(body)}"])
        return head.encode() + b"\r\n" + body


def route(path: str, serial: int) -> tuple[list[str], bytes]:
    if path.startswith("/c/"):
        name = path[3:]
        if name == "plain":
            return ["Cache-Control: max-age=60"], b"page"
        return [f"Cache-Control: {COOKIE_CC[name]}", f"Set-Cookie: session={serial}"], b"page"
    if path == "/v":
        return ["Cache-Control: max-age=600", "Vary: X-K"], b"v" * 1024
    if path.startswith("/n/"):
        return ["Cache-Control: no-store"], b"n" * 1024
    if path.startswith("/o/"):
        return ["Cache-Control: max-age=600"], b"o" * int(path.split("/")[2])
    if path == "/big":
        return ["Cache-Control: max-age=600"], b"b" * (4 * MIB)
    return ["Cache-Control: no-store"], b"?"


async def fetch(port: int, path: str, *fields: str) -> dict[str, str]:
    """One GET on a new connection: the response's fields (lower-case names) and `status`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = "".join(f"{f}\r\n" for f in fields)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: b\r\n{extra}\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = head.split("\r\n")
    got = {"status": lines[0].split(" ")[1]}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            got[name.strip().lower()] = value.strip()
    await reader.readexactly(int(got.get("content-length", "0")))
    writer.close()
    return got


# -- cookies ------------------------------------------------------------------------------------------

def proxy_flags(repo: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "services.proxy", "--help"], cwd=repo, capture_output=True,
                         text=True, check=False)
    return out.stdout


def start_peer(kind: str, origin_port: int) -> tuple[subprocess.Popen[bytes], int, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tmp = tempfile.mkdtemp(prefix=f"qoslab-{kind}-")
    Path(tmp).chmod(0o755)
    if kind == "varnish":
        cmd = ["varnishd", "-F", "-n", tmp, "-a", f"127.0.0.1:{port}", "-b", f"127.0.0.1:{origin_port}",
               "-s", "malloc,64m"]
    else:
        Path(tmp, "nginx.conf").write_text(
            f"daemon off; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log crit;\n"
            "events { worker_connections 1024; }\n"
            f"http {{ access_log off; proxy_cache_path {tmp}/cache keys_zone=c:1m;\n"
            f"  client_body_temp_path {tmp}/b; proxy_temp_path {tmp}/p; fastcgi_temp_path {tmp}/f;\n"
            f"  uwsgi_temp_path {tmp}/u; scgi_temp_path {tmp}/s;\n"
            f"  server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://127.0.0.1:{origin_port};\n"
            "    proxy_cache c; proxy_http_version 1.1; } } }\n")
        cmd = ["nginx", "-c", f"{tmp}/nginx.conf", "-p", tmp]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return proc, port, tmp
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} did not start")


async def cookie_rows(name: str, port: int) -> list[str]:
    rows, tag = [], re.sub(r"\W+", "-", name)
    for label in COOKIE_CC:
        path = f"/c/{label}?cache={tag}"
        alice = await fetch(port, path)
        seen = Origin.counts.get(path, 0)
        bob = await fetch(port, path)
        hit = Origin.counts.get(path, 0) == seen
        got = bob.get("set-cookie")
        shown = "no cookie" if got is None else "Alice's cookie" if got == alice.get("set-cookie") \
            else "his own cookie"
        rows.append(f"| {name} | {label} | {'HIT' if hit else 'MISS'} | {shown} |")
    path = f"/c/plain?cache={tag}"
    await fetch(port, path)
    await fetch(port, path, "Cookie: session=1")
    served = "from cache" if Origin.counts[path] == 1 else "forwarded"
    rows.append(f"| {name} | request with Cookie | {served} | |")
    return rows


async def cookies(origin_port: int, args: argparse.Namespace) -> str:
    rows = ["| cache | Cache-Control (+ Set-Cookie) | Bob's answer | Bob got |", "|---|---|---|---|"]
    settings = [["--set-cookie", mode] for mode in ("pass", "strip", "store")] + \
        [["--cookie-requests", "bypass"]] if "--set-cookie" in proxy_flags(args.repo) else [[]]
    for flags in settings:
        proxy = Proxy(origin_port, *flags, repo=args.repo)
        try:
            rows += await cookie_rows(" ".join(["qoslab", *flags]), proxy.port)
        finally:
            proxy.stop()
    for kind in ("varnish", "nginx") if args.peers else ():
        if shutil.which("varnishd" if kind == "varnish" else "nginx") is None:
            rows.append(f"| {kind} | not installed | | |")
            continue
        proc, port, tmp = start_peer(kind, origin_port)
        try:
            rows += await cookie_rows(kind, port)
        finally:
            proc.terminate()
            proc.wait(10)
            shutil.rmtree(tmp, ignore_errors=True)
    return "cookies: Alice then Bob, each origin response with its own Set-Cookie\n" + "\n".join(rows)


# -- variants -----------------------------------------------------------------------------------------

async def variants(origin_port: int, args: argparse.Namespace) -> str:
    proxy = Proxy(origin_port, "--cache-size", "1MiB", repo=args.repo)
    lines = [f"variants: --cache-size 1MiB, Vary: X-K, hot value every {args.hot_every} requests, one-off "
             "values between (3,000 requests, one connection)"]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        hot = hot_hits = 0
        for i in range(3000):
            value = "hot" if i % args.hot_every == 0 else f"once-{i}"
            writer.write(f"GET /v HTTP/1.1\r\nHost: b\r\nX-K: {value}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(int(re.search(rb"(?i)content-length: *(\d+)", head).group(1)))  # type: ignore[union-attr]
            if value == "hot":
                hot, hot_hits = hot + 1, hot_hits + (b"X-Cache: HIT" in head)
            if i % 1000 == 999:
                stats = await asyncio.to_thread(_stats, proxy.port)
                lines.append(f"  after {i + 1} requests: evictions {stats['evictions']}, entries "
                             f"{stats['entries']}, hot value {hot_hits}/{hot} hits")
        writer.close()
    finally:
        proxy.stop()
    return "\n".join(lines)


# -- memory -------------------------------------------------------------------------------------------

async def one_miss(port: int, index: int) -> bool:
    try:
        got = await fetch(port, f"/n/{index}")
        return got["status"] == "200"
    except (OSError, asyncio.IncompleteReadError):
        return False


async def bursts(origin_port: int, args: argparse.Namespace) -> str:
    proxy = Proxy(origin_port, repo=args.repo)
    try:
        await keepalive_gets(proxy.port, [b"/n/warm"])
        before = proxy.rss_kib()
        after = []
        failed = 0
        for burst in range(args.bursts):
            done = await asyncio.gather(*(one_miss(proxy.port, burst * args.burst + i)
                                          for i in range(args.burst)))
            failed += done.count(False)
            await asyncio.sleep(1.0)
            after.append(proxy.rss_kib())
        await asyncio.sleep(args.settle)
        final = proxy.rss_kib()
    finally:
        proxy.stop()
    shown = ", ".join(f"{kib / 1024:.0f}" for kib in after)
    return (f"bursts: {args.bursts} × {args.burst} concurrent MISS connections ({failed} failed): RSS "
            f"{before / 1024:.1f} MiB before; after each burst {shown} MiB; {final / 1024:.1f} MiB "
            f"{args.settle:.0f} s after the last (+{(final - before) / 1024:.1f} MiB)")


async def cache_rss(origin_port: int, args: argparse.Namespace) -> str:
    lines = ["cache-rss: --cache-size 16MiB filled twice over"]
    for size in (1024, 16 * 1024, 256 * 1024):
        proxy = Proxy(origin_port, "--cache-size", "16MiB", repo=args.repo)
        try:
            await keepalive_gets(proxy.port, [b"/n/warm"])
            before = proxy.rss_kib()
            count = 2 * 16 * MIB // size
            paths = [f"/o/{size}/{i}".encode() for i in range(count)]
            await asyncio.gather(*(keepalive_gets(proxy.port, paths[w::4]) for w in range(4)))
            grown = (proxy.rss_kib() - before) * 1024
            stats = await asyncio.to_thread(_stats, proxy.port)
        finally:
            proxy.stop()
        bodies = stats["entries"] * size
        used = stats["bytes_used"]
        lines.append(f"  {size // 1024:4d} KiB objects: RSS +{grown / MIB:.1f} MiB, {stats['entries']} "
                     f"entries, bytes_used {used / MIB:.1f} MiB: {grown / used:.2f} RSS bytes per charged "
                     f"byte, {grown / bodies:.2f} per body byte")
    return "\n".join(lines)


async def slow_readers(origin_port: int, args: argparse.Namespace) -> str:
    proxy = Proxy(origin_port, repo=args.repo)
    clients: list[socket.socket] = []
    try:
        await keepalive_gets(proxy.port, [b"/big"])
        await asyncio.sleep(0.5)
        before = proxy.rss_kib()
        for _ in range(20):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", proxy.port))
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: b\r\n\r\n")
            clients.append(sock)
        await asyncio.sleep(2.0)
        connected = proxy.rss_kib()
        for sock in clients:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()  # a reset: the proxy sees the clients gone
        await asyncio.sleep(2.0)
        dropped = proxy.rss_kib()
    finally:
        for sock in clients:
            sock.close()
        proxy.stop()
    return (f"slow-readers: 20 non-reading clients of a 4 MiB hit (20 copies = 80 MiB): RSS "
            f"{before / 1024:.1f} MiB before, +{(connected - before) / 1024:.1f} MiB while connected, "
            f"+{(dropped - before) / 1024:.1f} MiB 2 s after they were dropped")


SCENARIOS: dict[str, Callable[[int, argparse.Namespace], Awaitable[str]]] = {
    "cookies": cookies, "variants": variants, "bursts": bursts, "cache-rss": cache_rss,
    "slow-readers": slow_readers}


async def main(args: argparse.Namespace) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = await asyncio.get_running_loop().create_server(Origin, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"proxy from {args.repo}", flush=True)
    for name in args.scenarios or list(SCENARIOS):
        print(await SCENARIOS[name](port, args), flush=True)
    server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], metavar="SCENARIO")
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose proxy runs (default: here)")
    parser.add_argument("--peers", action="store_true", help="cookies: also Varnish and nginx")
    parser.add_argument("--hot-every", type=int, default=40, help="variants: the hot value every N requests")
    parser.add_argument("--bursts", type=int, default=8)
    parser.add_argument("--burst", type=int, default=5000, help="concurrent connections per burst")
    parser.add_argument("--settle", type=float, default=6.0, help="bursts: seconds after the last burst")
    asyncio.run(main(parser.parse_args()))
