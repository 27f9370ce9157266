"""An HTTP origin for the load tests: answers every request `--delay-ms` after it arrives; the request
number `--stall-at` starts a global pause of `--stall-ms` (like a GC pause: no answer leaves meanwhile).
Prints `port=N` once listening; exits when stdin closes."""

from __future__ import annotations

import argparse
import asyncio
import sys

BODY = b"x" * 100
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Cache: MISS\r\n\r\n%s" % (len(BODY), BODY)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=float, default=2.0)
    parser.add_argument("--stall-at", type=int, default=-1)
    parser.add_argument("--stall-ms", type=float, default=500.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    loop = asyncio.get_running_loop()
    state = {"count": 0, "paused_until": 0.0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                state["count"] += 1
                if state["count"] == args.stall_at:
                    state["paused_until"] = loop.time() + args.stall_ms / 1000
                ready = max(loop.time() + args.delay_ms / 1000, state["paused_until"])
                await asyncio.sleep(ready - loop.time())
                writer.write(RESPONSE)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", args.port)
    print(f"port={server.sockets[0].getsockname()[1]}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
