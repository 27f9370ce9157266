"""One `tc -force -batch -` per end on a real kernel: the same tree, the same error and the same rollback as
one process per argv.

Integration, marked `netns`: needs root, ip and tc; a throwaway namespace per test (veth v0/v1, deleted
afterwards). The leaves are netem where this kernel has sch_netem, else tbf (probed); htb and tbf are
probed too (skipped without them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest

from netem.backends.local import NsenterRunner
from netem.core.command import CommandResult
from netem.core.engine import Target, apply_ends, clear_targets
from netem.core.errors import ApplyError
from netem.core.fields import Impairment
from netem.core.tree import handle
from tests.integration.netem.bench_batch import Counted, CountedBatch, has_qdisc, leaves, namespace

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tc") or not shutil.which("ip")
                                 or not shutil.which("nsenter"),
                                 reason="needs root, ip, tc and nsenter (network namespaces)")]

@pytest.fixture
def ns() -> Iterator[str]:
    with namespace() as name:
        if not (has_qdisc(name, "htb") and has_qdisc(name, "tbf", ["rate", "1mbit", "burst", "15140",
                                                                     "limit", "30000"])):
            pytest.skip("this kernel has no htb or no tbf")
        yield name


def snapshot(ns: str) -> dict[str, list[str]]:
    """Everything tc reports about v0 without counters: qdiscs, classes, filters (text: this tc has no
    JSON for classes)."""
    seen: dict[str, list[str]] = {}
    for kind in ("qdisc", "class", "filter"):
        done = subprocess.run(["ip", "netns", "exec", ns, "tc", kind, "show", "dev", "v0"],
                              capture_output=True, text=True, timeout=10, check=True)
        seen[kind] = done.stdout.splitlines()
    return seen


def runners(ns: str) -> tuple[Counted, CountedBatch]:
    inner = NsenterRunner(f"/run/netns/{ns}")
    return Counted(inner), CountedBatch(inner)


def test_a_batched_tree_reads_back_as_the_per_argv_one(ns: str) -> None:
    wanted = leaves(12, has_qdisc(ns, "netem"))
    per_argv, batched = runners(ns)
    trees, processes = [], []
    for runner in (per_argv, batched):
        end = Target("proxy", "edge", "down", "v0", runner)
        apply_ends([end], {("edge", "down"): Impairment(rate_bps=50_000_000)}, leaves={end.label: wanted})
        processes.append(len(runner.calls))
        trees.append(snapshot(ns))
        clear_targets([end])
    assert trees[0] == trees[1]
    assert sum(line.startswith("class htb") for line in trees[0]["class"]) == 13
    assert sum("flowid" in line for line in trees[0]["filter"]) == 12
    assert batched.batches == [3 + 4 * 12]  # the root, its class, its leaf; 4 per destination
    assert processes == [2 + 3 + 4 * 12, 3]  # read the root, the changes, read the tree back


@dataclass
class Refusing:
    """Hands the inner runner a leaf's class under a parent that does not exist (the kernel refuses it);
    the engine still sees, logs and reports its own argv."""

    inner: Counted
    classid: str

    def _spoil(self, argv: Sequence[str]) -> list[str]:
        spoilt = list(argv)
        if argv[1] == "class" and self.classid in argv:
            spoilt[spoilt.index("parent") + 1] = "7:"
        return spoilt

    def run(self, argv: Sequence[str]) -> CommandResult:
        return self.inner.run(self._spoil(argv))


@dataclass
class RefusingBatch(Refusing):
    inner: CountedBatch

    def run_batch(self, argvs: Sequence[Sequence[str]]) -> list[CommandResult]:
        return self.inner.run_batch([self._spoil(argv) for argv in argvs])


def test_a_refused_line_in_the_middle_raises_the_same_error_and_rolls_back(ns: str) -> None:
    wanted = leaves(8, has_qdisc(ns, "netem"))
    per_argv, batched = runners(ns)
    outcomes = []
    fifth = handle(1, wanted[4].minor)
    for runner in (Refusing(per_argv, fifth), RefusingBatch(batched, fifth)):
        end = Target("proxy", "edge", "down", "v0", runner)
        before = snapshot(ns)  # from the default qdisc (a tbf root: the next test)
        lines: list[tuple[str, dict[str, object]]] = []
        with pytest.raises(ApplyError) as info:
            apply_ends([end], {("edge", "down"): Impairment()}, leaves={end.label: wanted},
                       log=lambda name, lines=lines, **fields: lines.append((name, fields)))
        assert snapshot(ns) == before  # rolled back: the default root, no class, no filter
        error = info.value
        outcomes.append((type(error), str(error), error.argv, error.stderr, lines))
        clear_targets([end])
    assert outcomes[0] == outcomes[1]
    assert f"classid {fifth} " in outcomes[0][1] and "(exit 2)" in outcomes[0][1]
    assert batched.batches == [2 + 4 * 8]  # the root, its class (no default leaf), the leaves


def test_a_failed_tree_over_a_tbf_root_puts_the_tbf_back(ns: str) -> None:
    """Rollback rebuilds a tbf root after removing the half-made tree: `tc qdisc replace … root handle 1:
    tbf` over the tree's htb `1:` is refused ("must match existing qdisc"), which left the tree in place
    and said nothing."""
    wanted = leaves(4, has_qdisc(ns, "netem"))
    per_argv, batched = runners(ns)
    fifth = handle(1, wanted[2].minor)
    for runner in (Refusing(per_argv, fifth), RefusingBatch(batched, fifth)):
        end = Target("proxy", "edge", "down", "v0", runner)
        apply_ends([end], {("edge", "down"): Impairment(rate_bps=10_000_000)})
        before = snapshot(ns)
        assert any(" tbf " in line for line in before["qdisc"]), before
        with pytest.raises(ApplyError) as info:
            apply_ends([end], {("edge", "down"): Impairment()}, leaves={end.label: wanted})
        assert snapshot(ns) == before
        assert info.value.rolled_back and "rolling back left" not in str(info.value)
        clear_targets([end])


def test_words_with_spaces_and_quotes_reach_tc_as_they_are(ns: str) -> None:
    runner = NsenterRunner(f"/run/netns/{ns}")
    odd = ("a b", 'it"s', "it's")
    argvs = [["tc", "qdisc", "del", "dev", name, "root"] for name in (*odd, "v0")]
    results = runner.run_batch(argvs)
    assert [r.stderr for r in results[:3]] == [f'Cannot find device "{name}"' for name in odd]
    assert [r.returncode for r in results] == [1, 1, 1, 2]  # v0 has no root of ours: the kernel says so
    alone = [runner.run(argv) for argv in argvs]
    assert [r.returncode for r in alone] == [r.returncode for r in results]
    assert [r.stderr.strip() for r in alone] == [r.stderr for r in results]
