"""Applying a tree of leaves per argv against one `tc -force -batch -` per end: wall time and processes.

    sudo python3 -m tests.integration.netem.bench_batch [--leaves 12] [--rounds 5]

One throwaway namespace with a veth pair (deleted afterwards); rounds interleave the two paths; prints the
median of each. Leaves are netem where this kernel has sch_netem, else tbf. The runner is the Docker
host's (`NsenterRunner`: nsenter + tc per process).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from netem.backends.local import NsenterRunner
from netem.core.command import CommandResult
from netem.core.engine import Target, apply_ends, clear_targets
from netem.core.fields import Impairment
from netem.core.tree import Leaf


@dataclass
class Counted:
    """A runner around another that counts the processes it starts; `batches=False` hides the inner
    runner's batch, so the engine runs one process per argv."""

    inner: NsenterRunner
    calls: list[int] = field(default_factory=list)  # 1 per run, the line count per batch

    def run(self, argv: Sequence[str]) -> CommandResult:
        self.calls.append(1)
        return self.inner.run(argv)


@dataclass
class CountedBatch(Counted):
    batches: list[int] = field(default_factory=list)

    def run_batch(self, argvs: Sequence[Sequence[str]]) -> list[CommandResult]:
        self.calls.append(len(argvs))
        self.batches.append(len(argvs))
        return self.inner.run_batch(argvs)


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=10).stdout


@contextmanager
def namespace() -> Iterator[str]:
    name = f"qlb{os.getpid()}{uuid.uuid4().hex[:4]}"
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        sh("ip", "-n", name, "link", "set", "v0", "up")
        sh("ip", "-n", name, "link", "set", "v1", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], timeout=10, check=False)


def has_qdisc(ns: str, kind: str, args: Sequence[str] = ()) -> bool:
    """Whether this kernel takes `kind` as v1's root (probed, then removed)."""
    done = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "v1", "root",
                           "handle", "1:", kind, *args], capture_output=True, timeout=10, check=False)
    subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "v1", "root"],
                   capture_output=True, timeout=10, check=False)
    return done.returncode == 0


def leaves(count: int, netem: bool) -> list[Leaf]:
    """`count` destinations, each its own rate (and delay where the kernel has netem)."""
    return [Leaf(f"192.0.2.{i + 10}", Impairment(rate_bps=(i + 1) * 1_000_000,
                                                  delay_us=(i + 1) * 1_000 if netem else None))
            for i in range(count)]


def apply_tree(runner: Counted, wanted: Sequence[Leaf]) -> Target:
    end = Target("bench", "edge", "down", "v0", runner)
    apply_ends([end], {("edge", "down"): Impairment()}, leaves={end.label: list(wanted)})
    return end


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leaves", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with namespace() as ns:
        netem = has_qdisc(ns, "netem")
        wanted = leaves(args.leaves, netem)
        inner = NsenterRunner(f"/run/netns/{ns}")
        times: dict[str, list[float]] = {"per-argv": [], "batch": []}
        counts: dict[str, list[int]] = {"per-argv": [], "batch": []}
        for _ in range(args.rounds):
            for name in times:
                runner = Counted(inner) if name == "per-argv" else CountedBatch(inner)
                start = time.perf_counter()
                end = apply_tree(runner, wanted)
                times[name].append(time.perf_counter() - start)
                counts[name].append(len(runner.calls))
                clear_targets([end])
        print(f"{args.leaves} leaves ({'netem' if netem else 'tbf'}), NsenterRunner, {args.rounds} rounds "
              "interleaved, apply_ends from the default qdisc (reads included):")
        for name in times:
            print(f"  {name:8}  median {statistics.median(times[name]) * 1000:7.1f} ms  "
                  f"processes {statistics.median(counts[name]):.0f}  "
                  f"(all: {', '.join(f'{t * 1000:.1f}' for t in times[name])} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
