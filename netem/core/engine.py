"""The one apply path: run tc argv through a Runner, read back, roll back on any failure.

Backends differ only in their `Runner` (local subprocess, `ip netns exec`, Docker exec, later a VM),
so container start, the host controller and tests all go through `apply_ends`/`clear_targets`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from netem.core import rules, tc
from netem.core.errors import ApplyError, NetemUnavailable
from netem.core.fields import Impairment
from netem.core.profile import Ends
from netem.core.tc_show import QdiscState, TcShowError, root_qdisc

NO_NETEM_STDERR = "Specified qdisc kind is unknown"
NO_QDISC_STDERR = ("Cannot delete qdisc with handle of zero", "No such file or directory")


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


class Runner(Protocol):
    """Runs one argv where the interface lives (host, namespace, container, VM)."""

    def run(self, argv: Sequence[str]) -> CommandResult: ...


@dataclass(frozen=True)
class Target:
    """The egress of one end of one link."""

    service: str
    link: str
    direction: str
    dev: str
    runner: Runner
    addresses: tuple[str, ...] = ()  # the end's addresses on the link (both families), for `show`

    @property
    def label(self) -> str:
        return f"{self.service}:{self.dev} ({self.link}.{self.direction})"


Log = Callable[..., None]


def _no_log(name: str, **fields: Any) -> None:
    """Default logger: silent."""


def read_root(target: Target) -> QdiscState | None:
    result = target.runner.run(tc.show_argv(target.dev))
    if result.returncode != 0:
        raise ApplyError(f"{target.label}: tc show failed", target=target.label,
                         argv=tc.show_argv(target.dev), stderr=result.stderr)
    try:
        return root_qdisc(result.stdout)
    except TcShowError as exc:
        raise ApplyError(f"{target.label}: {exc}", target=target.label) from exc


def _failure(target: Target, argv: list[str], result: CommandResult, imp: Impairment) -> ApplyError:
    stderr = result.stderr.strip()
    if NO_NETEM_STDERR in stderr and "netem" in argv:
        return NetemUnavailable(
            f"{target.label}: this kernel has no sch_netem (tc said: {stderr!r}); this end needs netem "
            f"for {', '.join(imp.netem_keys())}. Fields that work without netem (tbf): "
            f"{', '.join(rules.RATE_ONLY_KEYS)}", target=target.label, argv=argv, stderr=stderr)
    return ApplyError(f"{target.label}: {' '.join(argv)} failed (exit {result.returncode}): {stderr}",
                      target=target.label, argv=argv, stderr=stderr)


def _verify(target: Target, imp: Impairment, state: QdiscState | None) -> str | None:
    """None when the kernel reports what we asked for, else what differs."""
    kind = imp.kind
    seen = state.kind if state else "none"
    if kind is None:
        return None if state is None or state.is_default() else f"expected the default qdisc, found {seen}"
    if seen != kind:
        return f"expected {kind}, found {seen}"
    if kind == "tbf" and state is not None and imp.rate_bps:
        rate_bps = int(state.options.get("rate", 0)) * 8
        if abs(rate_bps - imp.rate_bps) > imp.rate_bps * 0.01:
            return f"expected rate {imp.rate_bps} bit/s, found {rate_bps}"
    return None


def _run_end(target: Target, imp: Impairment, verb: str, log: Log) -> None:
    argv = tc.qdisc_argv(target.dev, imp, verb)
    result = target.runner.run(argv)
    log("netem.tc", target=target.label, argv=" ".join(argv), rc=result.returncode,
        stderr=result.stderr.strip())
    if result.returncode != 0 and not (argv[2] == "del" and any(s in result.stderr for s in NO_QDISC_STDERR)):
        raise _failure(target, argv, result, imp)


def apply_ends(targets: Sequence[Target], ends: Ends, *, verb: str = "replace",
               log: Log = _no_log) -> dict[str, QdiscState | None]:
    """Apply each target's settings; all or nothing. Returns what the kernel reports per target."""
    before: list[tuple[Target, QdiscState | None]] = []
    done = False
    try:
        for target in targets:
            imp = ends[(target.link, target.direction)]
            state = read_root(target)
            before.append((target, state))
            if imp.kind is None and (state is None or state.is_default()):
                continue
            if verb == "replace" and state is not None and state.kind == imp.kind == "netem":
                # replace on a netem root is netem's change, which keeps every attribute the new command
                # omits (a field the old profile set and the new one does not): start from nothing.
                _run_end(target, Impairment(), verb, log)
            _run_end(target, imp, verb, log)
        after = {t.label: read_root(t) for t in targets}
        for target in targets:
            problem = _verify(target, ends[(target.link, target.direction)], after[target.label])
            if problem:
                raise ApplyError(f"{target.label}: read back: {problem}", target=target.label)
            log("netem.readback", target=target.label, **(after[target.label] or _NONE).summary())
        done = True
        return after
    finally:
        if not done:
            rollback(before, log)


_NONE = QdiscState(kind="none", handle="", root=True)


def rollback(before: Sequence[tuple[Target, QdiscState | None]], log: Log = _no_log) -> list[str]:
    """Put each target's root qdisc back as it was; returns the problems (never raises)."""
    problems: list[str] = []
    for target, state in reversed(before):
        kind = state.kind if state else "noqueue"
        argv = tc.restore_argv(target.dev, kind, state.options if state else {})
        if argv is None:
            argv = tc.clear_argv(target.dev)
            problems.append(f"{target.label}: could not rebuild {kind}; cleared instead")
        try:
            result = target.runner.run(argv)
        except Exception as exc:  # rollback must reach every target
            problems.append(f"{target.label}: {exc}")
            continue
        benign = argv[2] == "del" and any(s in result.stderr for s in NO_QDISC_STDERR)
        if result.returncode != 0 and not benign:
            problems.append(f"{target.label}: {' '.join(argv)}: {result.stderr.strip()}")
        log("netem.rollback", target=target.label, restored=kind, rc=result.returncode)
    return problems


def clear_targets(targets: Sequence[Target], log: Log = _no_log) -> None:
    """Remove our root qdisc from each target (already-default interfaces are left alone)."""
    errors = []
    for target in targets:
        try:
            _run_end(target, Impairment(), "replace", log)
        except ApplyError as exc:
            errors.append(str(exc))
    if errors:
        raise ApplyError("clear failed: " + "; ".join(errors))
