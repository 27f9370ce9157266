"""How commands reach an interface: a `Runner` runs one argv; a `BatchRunner` also runs a list of tc
argvs as one `tc -force -batch -` process (`netem.core.tcbatch`), one result per argv.

`outcomes` is the one way the engine runs a list of argvs: it yields their results in order, through one
batch per run of consecutive tc argvs where the runner can, else one process per argv; it is lazy, so a
caller that stops at a failure runs nothing more on the per-argv path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from netem.core import tcbatch


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


class Runner(Protocol):
    """Runs one argv where the interface lives (host, namespace, container, VM)."""

    def run(self, argv: Sequence[str]) -> CommandResult: ...


@runtime_checkable
class BatchRunner(Runner, Protocol):
    """A runner that also runs many tc argvs in one process: one result per argv, or `NotBatched`
    when it cannot (the caller then runs each argv)."""

    def run_batch(self, argvs: Sequence[Sequence[str]]) -> list[CommandResult]: ...


def batch_results(done: CommandResult, count: int) -> list[CommandResult]:
    """The `count` lines' results of one `tc -force -batch -` run (tc's stdout goes to the last line;
    raises NotBatched when the run does not read as a batch)."""
    lines = tcbatch.parse(done.returncode, done.stderr, count)
    return [CommandResult(line.returncode, done.stdout if i == count - 1 else "", line.stderr)
            for i, line in enumerate(lines)]


def stdin_batch(run: Callable[[Sequence[str], str], CommandResult],
                argvs: Sequence[Sequence[str]]) -> list[CommandResult]:
    """A batch through a runner that can feed a process's stdin (a subprocess, nsenter)."""
    return batch_results(run(tcbatch.BATCH_ARGV, tcbatch.encode(argvs)), len(argvs))


def shell_batch(run: Callable[[Sequence[str]], CommandResult],
                argvs: Sequence[Sequence[str]]) -> list[CommandResult]:
    """A batch through a runner that passes an argv but no stdin (`docker exec`): `sh -c` pipes it."""
    return batch_results(run(tcbatch.shell_argv(tcbatch.encode(argvs))), len(argvs))


def _runs(argvs: Sequence[Sequence[str]]) -> Iterator[Sequence[Sequence[str]]]:
    """Consecutive tc argvs together, any other argv (`ip link set …`) alone."""
    start = 0
    for i, argv in enumerate(argvs):
        if list(argv[:1]) != ["tc"]:
            if start < i:
                yield argvs[start:i]
            yield argvs[i:i + 1]
            start = i + 1
    if start < len(argvs):
        yield argvs[start:]


def outcomes(runner: Runner, argvs: Sequence[Sequence[str]]) -> Iterator[CommandResult]:
    """Each argv's result, in order: a batch per run of tc argvs where the runner has one, else (and
    when the batch is refused) one process per argv, run only as the caller asks for its result."""
    for run in _runs(argvs):
        batch = _batch(runner, run) if len(run) > 1 else None
        if batch is not None:
            yield from batch
            continue
        for argv in run:
            yield runner.run(argv)


def _batch(runner: Runner, argvs: Sequence[Sequence[str]]) -> list[CommandResult] | None:
    """The batch's results, None when the runner has no batch or refuses this one."""
    if not isinstance(runner, BatchRunner):
        return None
    try:
        return runner.run_batch(argvs)
    except tcbatch.NotBatched:
        return None
