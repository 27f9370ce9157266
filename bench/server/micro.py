"""Python cost per request of the server's Protocol, without sockets (a no-op transport): µs per request.

    python bench/server/micro.py [--root www] [--target /small.html] [--requests 100000]

Prints the whole `data_received` path for one request per read and for 16 pipelined requests per read,
the full path alone (fast path off) and the request parser alone. For where the rest goes (asyncio, the
kernel) profile a live server: `py-spy record -p PID -d 8 -r 200 -f raw -o prof.txt --nonblocking` while
`wrk -t2 -c64 -d8s http://127.0.0.1:PORT/small.html` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import timeit
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from services.common.http1 import RequestParser  # noqa: E402
from services.server.app import ServerConfig, make_context  # noqa: E402
from services.server.context import Context  # noqa: E402
from services.server.fast import FastRoutes  # noqa: E402
from services.server.protocol import HttpProtocol  # noqa: E402


class NullTransport(asyncio.Transport):
    def write(self, data: Any) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False


def per_request_us(ctx: Context, data: bytes, requests: int) -> float:
    proto = HttpProtocol(ctx)
    proto.connection_made(NullTransport())
    per_read = data.count(b"\r\n\r\n")
    calls = max(1, requests // per_read)
    best = min(timeit.repeat(lambda: proto.data_received(data), number=calls, repeat=5))
    return best / (calls * per_read) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(REPO / "www"))
    parser.add_argument("--target", default="/small.html")
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    request = f"GET {args.target} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n".encode()
    config = ServerConfig(root=args.root, access_log=False)
    fast, full = make_context(config), make_context(config)
    full.fast = FastRoutes(full.limits, head_limit=0)
    rows = [("fast path, 1 request/read", fast, request),
            ("fast path, 16 pipelined/read", fast, request * 16),
            ("full path, 1 request/read", full, request),
            ("full path, 16 pipelined/read", full, request * 16)]
    for label, ctx, data in rows:
        print(f"{label:32} {per_request_us(ctx, data, args.requests):6.2f} us/request")
    parse = RequestParser()

    def parse_one() -> None:
        parse.feed(request)
        parse.next_event()
        parse.next_event()

    best = min(timeit.repeat(parse_one, number=args.requests, repeat=5))
    print(f"{'parser alone':32} {best / args.requests * 1e6:6.2f} us/request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
