"""A stamping UDP echo and an impairment relay in front of it, for the client's integration tests.

Run as a script (its own process, so its timing does not share the test's GIL):

    python impair.py --seed 7 --count 400 --drop-up 5 --drop-down 4 --dup 3 --reorder 3 --delay-ms 20

prints one line `echo=PORT relay=PORT plan=JSON` and serves until stdin closes. The plan names exactly
which sequence numbers are dropped on the way up, dropped on the way down, duplicated (on the way up, so
the echo answers twice) and swapped with their successor (on the way up), so the test knows the answer.
Every datagram on the way up is held `delay_ms` before it goes on.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import select
import socket
import struct
import sys
import threading
import time

PROBE_MAGIC = b"QLPB"
ADDRESS = tuple[str, int]


def make_plan(seed: int, count: int, drop_up: int, drop_down: int, dup: int,
              reorder: int) -> dict[str, list[int]]:
    """Disjoint sets of sequence numbers, never the first or last 5 (so tail losses stay attributable)."""
    rng = random.Random(seed)
    pool = list(range(5, count - 5, 2))  # even spacing keeps a swapped pair's neighbours untouched
    rng.shuffle(pool)
    take = [drop_up, drop_down, dup, reorder]
    names = ["drop_up", "drop_down", "dup", "reorder"]
    plan: dict[str, list[int]] = {}
    for name, n in zip(names, take, strict=True):
        plan[name] = sorted(pool[:n])
        del pool[:n]
    return plan


def stamp(data: bytes, recv_ns: int, count: int) -> bytes:
    reply = bytearray(data)
    reply[5] |= 0x01 | 0x02 | 0x04
    struct.pack_into("!I", reply, 44, count & 0xFFFFFFFF)
    struct.pack_into("!QQ", reply, 28, recv_ns, time.time_ns())
    return bytes(reply)


def serve_echo(sock: socket.socket) -> None:
    counts: dict[int, int] = {}
    while True:
        data, peer = sock.recvfrom(65535)
        now = time.time_ns()
        if len(data) >= 48 and data[:4] == PROBE_MAGIC:
            test_id = struct.unpack_from("!I", data, 8)[0]
            counts[test_id] = counts.get(test_id, 0) + 1
            data = stamp(data, now, counts[test_id])
        sock.sendto(data, peer)


class Relay:
    """client ⇄ relay ⇄ echo, with the plan applied by sequence number."""

    def __init__(self, sock: socket.socket, echo: ADDRESS, plan: dict[str, list[int]], delay_ns: int) -> None:
        self.sock, self.echo, self.delay_ns = sock, echo, delay_ns
        self.drop_up, self.drop_down = set(plan["drop_up"]), set(plan["drop_down"])
        self.dup, self.reorder = set(plan["dup"]), set(plan["reorder"])
        self.held: dict[int, bytes] = {}
        self.queue: list[tuple[int, int, bytes]] = []
        self.client: ADDRESS | None = None
        self.tick = 0

    def _later(self, data: bytes, at_ns: int) -> None:
        self.tick += 1
        heapq.heappush(self.queue, (at_ns, self.tick, data))

    def up(self, data: bytes) -> None:
        seq = struct.unpack_from("!Q", data, 12)[0] if data[:4] == PROBE_MAGIC else -1
        if seq in self.drop_up:
            return
        due = time.monotonic_ns() + self.delay_ns
        if seq in self.reorder:
            self.held[seq + 1] = data
            return
        self._later(data, due)
        if seq in self.dup:
            self._later(data, due)
        if seq in self.held:  # the held predecessor goes right after its successor
            self._later(self.held.pop(seq), due)

    def down(self, data: bytes) -> None:
        seq = struct.unpack_from("!Q", data, 12)[0] if data[:4] == PROBE_MAGIC else -1
        if seq in self.drop_down or self.client is None:
            return
        self.sock.sendto(data, self.client)

    def serve(self, upstream: socket.socket) -> None:
        while True:
            timeout = 0.05
            if self.queue:
                timeout = max(0.0, (self.queue[0][0] - time.monotonic_ns()) / 1e9)
            ready, _, _ = select.select([self.sock, upstream], [], [], min(timeout, 0.05))
            for sock in ready:
                data, peer = sock.recvfrom(65535)
                if sock is self.sock:
                    self.client = peer
                    self.up(data)
                else:
                    self.down(data)
            while self.queue and self.queue[0][0] <= time.monotonic_ns():
                upstream.sendto(heapq.heappop(self.queue)[2], self.echo)


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("seed", "count", "drop-up", "drop-down", "dup", "reorder"):
        parser.add_argument(f"--{name}", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    plan = make_plan(args.seed, args.count, args.drop_up, args.drop_down, args.dup, args.reorder)
    echo, relay, upstream = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3))
    for sock in (echo, relay, upstream):
        sock.bind(("127.0.0.1", 0))
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):  # bursts at 10 kpps wait, are not dropped
            sock.setsockopt(socket.SOL_SOCKET, option, 4 << 20)
    threading.Thread(target=serve_echo, args=(echo,), daemon=True).start()
    worker = Relay(relay, echo.getsockname(), plan, int(args.delay_ms * 1e6))
    threading.Thread(target=worker.serve, args=(upstream,), daemon=True).start()
    print(f"echo={echo.getsockname()[1]} relay={relay.getsockname()[1]} plan={json.dumps(plan)}", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
