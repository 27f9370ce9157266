"""One tc process per end: the engine through a batching runner against the same fake kernel as through a
runner without batches (pure: a model of tc, no kernel). Both paths must log, raise and roll back alike,
and the batching one must run one process per end's change."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from netem.backends.docker_backend import DockerRunner
from netem.backends.local import LocalRunner, NsenterRunner
from netem.backends.swarm import ExecRunner
from netem.core import command, tcbatch
from netem.core.command import CommandResult
from netem.core.engine import Target, add_leaves, apply_ends
from netem.core.errors import ApplyError
from netem.core.fields import Impairment
from netem.core.queue import Queue
from netem.core.tree import Leaf

SLOW, DELAYED = Impairment(rate_bps=2_000_000), Impairment(delay_us=20_000)
PERM = "RTNETLINK answers: Operation not permitted\n"
NO_FILTER = "Error: Cannot find specified filter chain.\nWe have an error talking to the kernel\n"
NO_ROOT = "Error: Cannot delete qdisc with handle of zero.\n"
NO_KIND = "Error: Specified qdisc kind is unknown.\n"


@dataclass
class Kernel:
    """One interface's qdiscs and filter preferences; `refuse` fails any change command holding one of
    its words; `kinds` are the qdiscs this kernel has."""

    kinds: frozenset[str] = frozenset({"htb", "tbf"})
    refuse: tuple[str, ...] = ()
    qdiscs: dict[str, dict[str, object]] = field(default_factory=dict)
    filters: set[str] = field(default_factory=set)
    changes: list[list[str]] = field(default_factory=list)

    def run(self, argv: Sequence[str]) -> CommandResult:
        argv = list(argv)
        if argv[:3] == ["tc", "-s", "-j"]:
            return CommandResult(0, json.dumps(list(self.qdiscs.values()) or [
                {"kind": "noqueue", "handle": "0:", "root": True}]), "")
        if argv[:3] == ["ip", "-d", "-j"]:
            return CommandResult(0, json.dumps([{"gso_max_segs": 65535, "tso_max_segs": 65535}]), "")
        self.changes.append(argv)
        if argv[0] == "ip":
            return CommandResult(0, "", "")
        if any(word in " ".join(argv) for word in self.refuse):
            return CommandResult(2, "", PERM)
        return {"qdisc": self._qdisc, "class": self._ok, "filter": self._filter}[argv[1]](argv)

    def _ok(self, argv: list[str]) -> CommandResult:
        return CommandResult(0, "", "") if "1:" in self.qdiscs else CommandResult(2, "", "Error: no root.\n")

    def _qdisc(self, argv: list[str]) -> CommandResult:
        if argv[2] == "del":
            found = bool(self.qdiscs)
            self.qdiscs.clear()
            self.filters.clear()
            return CommandResult(0, "", "") if found else CommandResult(2, "", NO_ROOT)
        handle = argv[argv.index("handle") + 1]
        kind = argv[argv.index("handle") + 2]
        if kind not in self.kinds:
            return CommandResult(2, "", NO_KIND)
        root = argv[5] == "root"
        if not root and argv[6].split(":")[0] + ":" not in self.qdiscs:
            return CommandResult(2, "", "Error: Failed to find specified qdisc.\n")
        if root:
            self.qdiscs.clear()
            self.filters.clear()
        self.qdiscs[handle] = {"kind": kind, "handle": handle, "root": root,
                               **({} if root else {"parent": argv[6]}),
                               **({"options": {"rate": 250_000}} if kind == "tbf" else {})}
        return CommandResult(0, "", "")

    def _filter(self, argv: list[str]) -> CommandResult:
        pref = argv[argv.index("pref") + 1]
        if argv[2] == "del" and pref not in self.filters:
            return CommandResult(2, "", NO_FILTER)
        (self.filters.discard if argv[2] == "del" else self.filters.add)(pref)
        return CommandResult(0, "", "")


@dataclass
class PerArgv:
    """A runner without batches: one process per argv."""

    kernel: Kernel
    processes: int = 0

    def run(self, argv: Sequence[str]) -> CommandResult:
        self.processes += 1
        return self.kernel.run(argv)


@dataclass
class TextBatch(PerArgv):
    """A batching runner whose `tc -force -batch -` is the kernel model behind tc's batch text and stderr
    format (NotBatched when `no_batch`: a tc without -batch)."""

    no_batch: bool = False
    batches: list[int] = field(default_factory=list)

    def run_batch(self, argvs: Sequence[Sequence[str]]) -> list[CommandResult]:
        self.processes += 1
        self.batches.append(len(argvs))
        text = tcbatch.encode(argvs)
        if self.no_batch:
            return command.batch_results(CommandResult(255, "", 'Option "-force" is unknown\n'), len(argvs))
        stderr, failed = "", False
        for number, line in enumerate(text.splitlines(), start=1):
            result = self.kernel.run(["tc", *shlex.split(line)])
            if result.returncode:
                stderr += f"{result.stderr}Command failed -:{number}\n"
                failed = True
        return command.batch_results(CommandResult(int(failed), "", stderr), len(argvs))


@dataclass
class DirectBatch(PerArgv):
    """A batching runner that hands back each line's result as the kernel gave it (rc included)."""

    def run_batch(self, argvs: Sequence[Sequence[str]]) -> list[CommandResult]:
        self.processes += 1
        return [self.kernel.run(argv) for argv in argvs]


Scenario = Callable[[Target, Callable[..., None]], object]


def fresh_tree(leaves: int) -> Scenario:
    def go(end: Target, log: Callable[..., None]) -> object:
        wanted = [Leaf(f"10.0.0.{i + 2}", SLOW if i % 2 else DELAYED) for i in range(leaves)]
        return apply_ends([end], {("edge", "down"): Impairment()}, leaves={end.label: wanted}, log=log)
    go.__name__ = f"fresh_tree_{leaves}"
    return go


def replica_joins(end: Target, log: Callable[..., None]) -> object:
    apply_ends([end], {("edge", "down"): Impairment()}, leaves={end.label: [Leaf("10.0.0.2", SLOW)]})
    add_leaves(end, [Leaf("10.0.0.2", SLOW), Leaf("10.0.0.3", DELAYED), Leaf("10.0.0.4", SLOW)], log)
    return None


def plain_end(end: Target, log: Callable[..., None]) -> object:
    apply_ends([end], {("edge", "down"): SLOW}, log=log)
    return apply_ends([end], {("edge", "down"): Impairment()}, log=log)


def queue_end(end: Target, log: Callable[..., None]) -> object:
    return apply_ends([end], {("edge", "down"): Impairment(rate_bps=2_000_000, queue=Queue("pfifo"))},
                      log=log)


def over_a_tree(end: Target, log: Callable[..., None]) -> object:
    fresh_tree(2)(end, lambda name, **fields: None)
    return fresh_tree(3)(end, log)


KERNELS: dict[str, Callable[[], Kernel]] = {
    "every kind": lambda: Kernel(kinds=frozenset({"htb", "tbf", "netem", "pfifo"})),
    "no netem": Kernel,  # DELAYED leaves and the queue end need it
    "refused class": lambda: Kernel(kinds=frozenset({"htb", "tbf", "netem"}), refuse=("classid 1:1003",)),
    "refused filter": lambda: Kernel(kinds=frozenset({"htb", "tbf", "netem"}), refuse=("pref 4099 u32",)),
}
CASES = [(kernel, scenario) for kernel in KERNELS for scenario in
         (fresh_tree(4), replica_joins, plain_end, queue_end, over_a_tree)]


def outcome(runner: PerArgv, scenario: Scenario) -> tuple[list[tuple[str, dict[str, Any]]], object, Kernel]:
    lines: list[tuple[str, dict[str, Any]]] = []
    end = Target("proxy", "edge", "down", "eth0", runner)
    try:
        result: object = scenario(end, lambda name, **fields: lines.append((name, fields)))
    except ApplyError as exc:
        result = (type(exc), str(exc), exc.argv, exc.stderr, exc.target)
    return lines, result, runner.kernel


@pytest.mark.parametrize(("kernel", "scenario"), CASES)
def test_both_paths_log_raise_and_leave_the_kernel_alike(kernel: str, scenario: Scenario) -> None:
    lines, result, model = outcome(PerArgv(KERNELS[kernel]()), scenario)
    direct_lines, direct_result, direct_model = outcome(DirectBatch(KERNELS[kernel]()), scenario)
    text_lines, text_result, text_model = outcome(TextBatch(KERNELS[kernel]()), scenario)
    assert direct_lines == lines and direct_result == result
    assert text_lines == lines and text_result == result
    if scenario is replica_joins and isinstance(result, tuple):
        return  # add_leaves has no rollback: tc -force ran the lines after the failure (test below)
    for batched in (direct_model, text_model):
        assert (batched.qdiscs, batched.filters) == (model.qdiscs, model.filters)


def test_the_cases_cover_success_benign_and_real_failures() -> None:
    results = [outcome(PerArgv(KERNELS[k]()), s) for k, s in CASES]
    assert any(not isinstance(r, tuple) for _, r, _ in results)
    errors = {r[1].split(": ", 1)[1][:40] for _, r, _ in results if isinstance(r, tuple)}
    assert any("no sch_netem" in e for e in errors) and any("class replace" in e for e in errors)
    assert any("filter add" in e for e in errors)
    benign = [f for lines, _, _ in results for n, f in lines if n == "netem.tc" and f["rc"] and
              ("filter del" in f["argv"] or "qdisc del" in f["argv"])]
    assert benign


def test_a_tree_of_twelve_leaves_is_one_process() -> None:
    runner = TextBatch(KERNELS["every kind"]())
    end = Target("proxy", "edge", "down", "eth0", runner)
    fresh_tree(12)(end, lambda name, **fields: None)
    assert runner.batches == [2 + 12 * 4]  # the root and its class (no default leaf), 4 per leaf
    assert runner.processes == 3  # read the root, the batch, read the tree back
    runner.batches.clear()
    add_leaves(end, [Leaf("10.0.0.40", SLOW), Leaf("10.0.0.41", SLOW)])
    assert runner.batches == [8] and runner.processes == 4


def test_a_failed_line_stops_the_per_argv_path_but_not_tcs_batch() -> None:
    """tc -force runs the lines after a failure; the engine logs and judges up to the first real failure
    either way, and the rollback replaces the root (and so the whole tree)."""
    per_argv, batched = PerArgv(KERNELS["refused class"]()), TextBatch(KERNELS["refused class"]())
    for runner in (per_argv, batched):
        with pytest.raises(ApplyError, match="classid 1:1003"):
            fresh_tree(4)(Target("proxy", "edge", "down", "eth0", runner), lambda name, **fields: None)
        assert runner.kernel.qdiscs == {} and runner.kernel.changes[-1][:3] == ["tc", "qdisc", "del"]
    assert len(batched.kernel.changes) > len(per_argv.kernel.changes)


def test_add_leaves_after_a_failure_differs_only_in_the_lines_tc_ran_after_it() -> None:
    """add_leaves (a replica joining) has no rollback: per argv, the commands after the failed one never
    run; in a batch tc -force runs them. The error and the log lines are the same (test above)."""
    per_argv, batched = PerArgv(Kernel()), TextBatch(Kernel())
    for runner in (per_argv, batched):
        with pytest.raises(ApplyError, match="no sch_netem"):
            replica_joins(Target("proxy", "edge", "down", "eth0", runner), lambda name, **fields: None)
    ran = batched.kernel.changes[len(per_argv.kernel.changes):]
    assert batched.kernel.changes[:len(per_argv.kernel.changes)] == per_argv.kernel.changes
    assert [argv[1:3] for argv in ran] == [["filter", "del"], ["filter", "add"], *[
        [kind, verb] for kind, verb in (("class", "replace"), ("qdisc", "replace"), ("filter", "del"),
                                        ("filter", "add"))]]


def test_a_tc_without_batch_falls_back_to_one_process_per_argv() -> None:
    runner, reference = TextBatch(KERNELS["every kind"](), no_batch=True), PerArgv(KERNELS["every kind"]())
    for each in (runner, reference):
        fresh_tree(3)(Target("proxy", "edge", "down", "eth0", each), lambda name, **fields: None)
    assert runner.kernel.changes == reference.kernel.changes
    assert runner.processes == reference.processes + 1  # the refused batch


def test_outcomes_batch_tc_runs_and_run_other_commands_alone() -> None:
    runner = DirectBatch(Kernel())
    argvs = [["ip", "link", "set", "dev", "eth0", "gso_max_segs", "1"],
             ["tc", "qdisc", "replace", "dev", "eth0", "root", "handle", "1:", "htb", "default", "1"],
             ["tc", "class", "replace", "dev", "eth0", "parent", "1:", "classid", "1:1", "htb"],
             ["ip", "link", "set", "dev", "eth0", "gso_max_segs", "2"],
             ["tc", "qdisc", "del", "dev", "eth0", "root"]]
    assert [r.returncode for r in command.outcomes(runner, argvs)] == [0, 0, 0, 0, 0]
    assert runner.processes == 4 and runner.kernel.changes == argvs


def test_local_and_nsenter_runners_pipe_one_batch_into_tc(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[list[str], str | None]] = []

    def fake_run(argv: list[str], **kwargs: Any) -> Any:
        seen.append((argv, kwargs.get("input")))
        return type("Done", (), {"returncode": 1, "stdout": "", "stderr": "Error: e\nCommand failed -:2\n"})()

    monkeypatch.setattr("netem.backends.local.subprocess.run", fake_run)
    argvs = [["tc", "qdisc", "del", "dev", "v0", "root"], ["tc", "filter", "del", "dev", "v0", "pref", "1"]]
    for runner in (LocalRunner("ns1"), NsenterRunner("/run/netns/x")):
        results = runner.run_batch(argvs)
        assert [(r.returncode, r.stderr) for r in results] == [(0, ""), (2, "Error: e")]
    assert seen == [(["ip", "netns", "exec", "ns1", "tc", "-force", "-batch", "-"], tcbatch.encode(argvs)),
                    (["nsenter", "--net=/run/netns/x", "--", "tc", "-force", "-batch", "-"],
                     tcbatch.encode(argvs))]


def test_docker_and_swarm_runners_pass_the_batch_as_an_argument() -> None:
    argvs = [["tc", "qdisc", "del", "dev", "eth0", "root"], ["tc", "qdisc", "del", "dev", "eth1", "root"]]
    calls: list[list[str]] = []

    class Container:
        def exec_run(self, argv: list[str], user: str = "", demux: bool = False) -> tuple[int, Any]:
            calls.append(argv)
            return 1, (b"", b"Error: gone\nCommand failed -:1\n")

    def docker(args: Sequence[str]) -> CommandResult:
        calls.append(list(args))
        return CommandResult(0, "", "")

    assert [r.returncode for r in DockerRunner(Container()).run_batch(argvs)] == [2, 0]
    assert [r.returncode for r in ExecRunner("c0ffee", docker).run_batch(argvs)] == [0, 0]
    assert calls[0] == tcbatch.shell_argv(tcbatch.encode(argvs))
    assert calls[1] == ["exec", "-u", "0", "c0ffee", *tcbatch.shell_argv(tcbatch.encode(argvs))]
