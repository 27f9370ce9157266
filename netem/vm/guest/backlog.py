"""Sample a queue tree's queue: `python3 -m netem.vm.guest.backlog DEV --out FILE` (in DEV's namespace).

The queue suite's reference for what a queue held: every `--interval-ms`, one rtnetlink dump
(`QdiscSocket.queues`, what `tc -s qdisc show` reads, without a process per sample) and one line
`[wall ns, packets, bytes]` of the queue under the tree's shaper (`tc.SHAPER_PARENT`) on DEV, until
SIGTERM or `--max-s`. Lines are flushed as written, so a terminated sampler loses none.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

from netem.backends.netlink import QdiscSocket, interface_index
from netem.vm import bloat


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m netem.vm.guest.backlog", description=__doc__)
    parser.add_argument("dev")
    parser.add_argument("--out", required=True, help="the file of JSON lines to write")
    parser.add_argument("--interval-ms", type=float, default=50.0)
    parser.add_argument("--max-s", type=float, default=300.0, help="stop after this long at the latest")
    args = parser.parse_args(argv)
    stopped = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    index = interface_index(args.dev)
    deadline = time.monotonic() + args.max_s
    with QdiscSocket() as sock, open(args.out, "w", encoding="utf-8") as out:
        while not stopped.is_set() and time.monotonic() < deadline:
            leaf = bloat.queue_leaf(sock.queues(), index)
            if leaf is not None:
                out.write(json.dumps([time.time_ns(), leaf.qlen, leaf.backlog]) + "\n")
                out.flush()
            stopped.wait(args.interval_ms / 1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
