"""What one netem change costs: the replayer's standard-library netlink socket vs pyroute2, interleaved.

    sudo python bench/netem/bench_netlink.py [--rounds 5] [--changes 300]

In a throwaway network namespace with a veth pair, each round times `--changes` netem changes of the same
settings (the delay alternating) through our `QdiscSocket` and through pyroute2's `IPRoute.tc("change",
"netem", …)`, back to back, and prints per tool the median of the rounds' p50 and p99 and the median of
the per-round ratios. On a kernel without sch_netem both send the same message and the kernel refuses it
(ENOENT): the cost measured is then the library's plus one kernel round trip, the same for both.
Needs root, `ip`, and pyroute2 (`pip install pyroute2`; the peer, not a dependency of qoslab).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from netem.backends.netlink import NetlinkError, QdiscSocket, interface_index  # noqa: E402
from netem.core.fields import Impairment  # noqa: E402

NS = f"qlbench{os.getpid()}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed(change: Callable[[int], None], count: int) -> list[float]:
    for i in range(20):
        change(i)
    out = []
    for i in range(count):
        start = time.perf_counter_ns()
        change(i)
        out.append((time.perf_counter_ns() - start) / 1000)
    return out


def child(rounds: int, count: int) -> None:
    """Runs inside the namespace: both tools, interleaved rounds."""
    from pyroute2 import IPRoute  # the peer
    from pyroute2.netlink.exceptions import NetlinkError as PyrouteError

    index = interface_index("v0")
    sock, ipr = QdiscSocket(), IPRoute()
    add = ["tc", "qdisc", "add", "dev", "v0", "root", "handle", "1:", "netem", "delay", "1ms"]
    netem = subprocess.run(add, capture_output=True).returncode == 0

    def ours(i: int) -> None:
        with contextlib.suppress(NetlinkError):  # no sch_netem: refused, as pyroute2's is
            sock.netem(index, Impairment(delay_us=1000 + i % 2 * 1000))

    def theirs(i: int) -> None:
        with contextlib.suppress(PyrouteError):
            ipr.tc("change", "netem", index, 0x10000, delay=1000 + i % 2 * 1000)

    results: dict[str, list[tuple[float, float]]] = {"stdlib socket": [], "pyroute2": []}
    for _ in range(rounds):
        for name, change in (("stdlib socket", ours), ("pyroute2", theirs)):
            samples = timed(change, count)
            results[name].append((percentile(samples, 50), percentile(samples, 99)))
    import pyroute2

    print(f"kernel netem: {'yes' if netem else 'no (both refused, same kernel path)'}; pyroute2 "
          f"{pyroute2.__version__}; {rounds} rounds x {count} changes; load {os.getloadavg()[0]:.1f}")
    print("| tool | p50 µs (median of rounds) | p99 µs (median of rounds) |\n|---|---|---|")
    for name, rows in results.items():
        p50, p99 = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
        print(f"| {name} | {p50:.1f} | {p99:.1f} |")
    ratios = [p[0] / o[0] for o, p in zip(results["stdlib socket"], results["pyroute2"], strict=True)]
    print(f"pyroute2 / stdlib, median of per-round p50 ratios: {statistics.median(ratios):.0f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rounds, args.changes)
        return 0
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        subprocess.run(["ip", "-n", NS, "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                       check=True)
        subprocess.run(["ip", "-n", NS, "link", "set", "v0", "up"], check=True)
        return subprocess.run(["ip", "netns", "exec", NS, sys.executable, __file__, "--child", "--rounds",
                               str(args.rounds), "--changes", str(args.changes)], check=False).returncode
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)


if __name__ == "__main__":
    sys.exit(main())
