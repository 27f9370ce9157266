"""The one apply path: run tc argv through a Runner, read back, roll back on any failure.

Backends differ only in their `Runner` (local subprocess, `ip netns exec`, Docker exec, later a VM),
so container start, the host controller and tests all go through `apply_ends`/`clear_targets`. The tc
commands that change one end run as one `tc -force -batch -` process where the runner can
(`command.outcomes`), else one process per argv; `check` judges each command's result either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netem.core import rules, tc, tree
from netem.core.command import BatchRunner as BatchRunner
from netem.core.command import CommandResult as CommandResult
from netem.core.command import Runner as Runner
from netem.core.command import outcomes
from netem.core.errors import ApplyError, NetemUnavailable, QdiscUnavailable
from netem.core.fields import Impairment
from netem.core.profile import Ends
from netem.core.queue import MODULES
from netem.core.tc_show import LinkGso, QdiscState, TcShowError, child, parse_link_gso, parse_qdiscs

NO_NETEM_STDERR = "Specified qdisc kind is unknown"
NO_QDISC_STDERR = ("Cannot delete qdisc with handle of zero", "No such file or directory")


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


def read_tree(target: Target) -> list[QdiscState]:
    """Every qdisc of the target's interface (the root and, in a queue tree, its children)."""
    result = target.runner.run(tc.show_argv(target.dev))
    if result.returncode != 0:
        raise ApplyError(f"{target.label}: tc show failed", target=target.label,
                         argv=tc.show_argv(target.dev), stderr=result.stderr)
    try:
        return parse_qdiscs(result.stdout)
    except TcShowError as exc:
        raise ApplyError(f"{target.label}: {exc}", target=target.label) from exc


def read_root(target: Target) -> QdiscState | None:
    return next((state for state in read_tree(target) if state.root), None)


def read_gso(target: Target) -> LinkGso | None:
    """The interface's gso_max_segs (a queue tree sets it to 1); None when `ip` cannot tell."""
    result = target.runner.run(tc.link_show_argv(target.dev))
    return parse_link_gso(result.stdout) if result.returncode == 0 else None


def _set_gso(target: Target, segments: int, log: Log) -> str:
    """Put the interface's gso_max_segs to `segments`; returns the problem, '' when it worked."""
    argv = tc.gso_argv(target.dev, segments)
    result = target.runner.run(argv)
    log("netem.gso", target=target.label, gso_max_segs=segments, rc=result.returncode)
    return "" if result.returncode == 0 else f"{target.label}: {' '.join(argv)}: {result.stderr.strip()}"


def _failure(target: Target, argv: list[str], result: CommandResult, imp: Impairment) -> ApplyError:
    stderr = result.stderr.strip()
    kind = argv[argv.index("handle") + 2] if "handle" in argv[:-2] else ""
    if NO_NETEM_STDERR in stderr and imp.queue is not None and kind == imp.queue.kind:
        module = MODULES[kind]
        return QdiscUnavailable(
            f"{target.label}: this kernel has no {module} (tc said: {stderr!r}); this end's queue "
            f"({kind}) needs it", module=module, target=target.label, argv=argv, stderr=stderr)
    if NO_NETEM_STDERR in stderr and "netem" in argv:
        return NetemUnavailable(
            f"{target.label}: this kernel has no sch_netem (tc said: {stderr!r}); this end needs netem "
            f"for {', '.join(imp.netem_keys())}. Fields that work without netem (tbf): "
            f"{', '.join(rules.RATE_ONLY_KEYS)}", target=target.label, argv=argv, stderr=stderr)
    return ApplyError(f"{target.label}: {' '.join(argv)} failed (exit {result.returncode}): {stderr}",
                      target=target.label, argv=argv, stderr=stderr)


def _rate_differs(state: QdiscState, rate_bps: int | None) -> str | None:
    seen_bps = int(state.options.get("rate", 0)) * 8
    if rate_bps and abs(seen_bps - rate_bps) > rate_bps * 0.01:
        return f"expected rate {rate_bps} bit/s, found {seen_bps}"
    return None


def _verify(imp: Impairment, tree: Sequence[QdiscState]) -> str | None:
    """None when the kernel reports what we asked for (the root, and a queue tree's children), else what
    differs."""
    state = next((s for s in tree if s.root), None)
    kind = imp.kind
    seen = state.kind if state else "none"
    if kind is None:
        return None if state is None or state.is_default() else f"expected the default qdisc, found {seen}"
    if seen != kind or state is None:
        return f"expected {kind}, found {seen}"
    if kind == "tbf":
        return _rate_differs(state, imp.rate_bps)
    if imp.queue is None:
        return None
    shaper, queue = child(list(tree), tc.QUEUE_PARENT), child(list(tree), tc.SHAPER_PARENT)
    if shaper is None or shaper.kind != "tbf":
        return f"expected tbf under netem, found {shaper.kind if shaper else 'none'}"
    if queue is None or queue.kind != imp.queue.kind:
        return f"expected {imp.queue.kind} under tbf, found {queue.kind if queue else 'none'}"
    return _rate_differs(shaper, imp.rate_bps)


def _nothing_to_delete(argv: Sequence[str], result: CommandResult) -> bool:
    """A `del` that failed because there was no qdisc to delete: the end is as wanted."""
    return argv[2] == "del" and any(s in result.stderr for s in NO_QDISC_STDERR)


def check(target: Target, argv: list[str], result: CommandResult, imp: Impairment, log: Log) -> None:
    """The one rule for a tc command's result, however it ran: log it, raise unless it worked or failed
    benignly."""
    log("netem.tc", target=target.label, argv=" ".join(argv), rc=result.returncode,
        stderr=result.stderr.strip())
    benign = _nothing_to_delete(argv, result)
    if result.returncode != 0 and not benign and not tree.is_benign(argv):
        raise _failure(target, argv, result, imp)


Commands = list[tuple[list[str], Impairment]]  # argvs in order, each with the settings it puts in place


def _run_all(target: Target, commands: Commands, log: Log) -> None:
    """Run one end's commands in order, one tc process for them where the runner batches (`command`);
    the first real failure raises."""
    for (argv, imp), result in zip(commands, outcomes(target.runner, [a for a, _ in commands]), strict=True):
        check(target, argv, result, imp, log)


def _end(target: Target, imp: Impairment, verb: str) -> Commands:
    return [(argv, imp) for argv in tc.end_argvs(target.dev, imp, verb)]


def _run_end(target: Target, imp: Impairment, verb: str, log: Log) -> None:
    _run_all(target, _end(target, imp, verb), log)


Leaves = Mapping[str, Sequence[tree.Leaf]]  # target label → per-destination leaves (an HTB tree on that end)


def _leaves(target: Target, leaves: Sequence[tree.Leaf]) -> Commands:
    return [(argv, leaf.imp) for leaf in leaves for argv in tree.leaf_argvs(target.dev, leaf)]


def add_leaves(target: Target, leaves: Sequence[tree.Leaf], log: Log = lambda name, **fields: None) -> None:
    """Add (or replace) destinations under an existing tree root: a replica that joined later."""
    _run_all(target, _leaves(target, leaves), log)


def _apply_tree(target: Target, own: Impairment, leaves: Sequence[tree.Leaf], state: QdiscState | None,
                log: Log) -> None:
    problem = tree.check_minors(leaves) or tree.check_queues(own, leaves)
    if problem:
        raise ApplyError(f"{target.label}: {problem}", target=target.label)
    fresh = _end(target, Impairment(), "replace") if state is not None and not state.is_default() else []
    # a fresh tree (no class of an old one survives), its root, its leaves
    _run_all(target, [*fresh, *[(argv, own) for argv in tree.root_argvs(target.dev, own)],
                      *_leaves(target, leaves)], log)


def _queue_summary(tree: Sequence[QdiscState]) -> dict[str, object]:
    """A queue tree's queue in the read-back line: its kind, backlog and drops."""
    queue = child(list(tree), tc.SHAPER_PARENT)
    if queue is None:
        return {}
    return {"queue": queue.kind, "queue_backlog": queue.backlog, "queue_packets": queue.qlen,
            "queue_dropped": queue.drops}


def apply_ends(targets: Sequence[Target], ends: Ends, *, verb: str = "replace",
               log: Log = _no_log, leaves: Leaves | None = None,
               own: Mapping[str, Impairment] | None = None) -> dict[str, QdiscState | None]:
    """Apply each target's settings; all or nothing. Returns what the kernel reports per target.

    A target in `leaves` gets an HTB tree: its own settings for all other packets, and one leaf per
    destination (`tree`; none yet is fine: a replica's leaf is added when it starts). `own` gives a
    target settings of its own instead of its end's (a client replica's class in a mix)."""
    before: list[Before] = []
    leaves = leaves or {}

    def settings(target: Target) -> Impairment:
        return own[target.label] if own and target.label in own else ends[(target.link, target.direction)]

    try:
        for target in targets:
            imp = settings(target)
            state = read_root(target)
            ours = state is not None and state.kind == "netem"  # a queue tree has a netem root
            before.append((target, state, read_gso(target) if imp.queue is not None or ours else None))
            if target.label in leaves:
                _apply_tree(target, imp, leaves[target.label], state, log)
            elif imp.kind is None and (state is None or state.is_default()):
                continue
            else:
                # replace on a netem root is netem's change, which keeps every attribute the new command
                # omits (a field the old profile set and the new one does not): start from nothing.
                fresh = verb == "replace" and state is not None and state.kind == imp.kind == "netem"
                _run_all(target, [*(_end(target, Impairment(), verb) if fresh else []),
                                  *_end(target, imp, verb)], log)
            gso = before[-1][2]
            if imp.queue is None and gso is not None and gso.gso_max_segs == 1:
                undone = _set_gso(target, gso.tso_max_segs, log)  # the queue tree that set it is gone
                if undone:
                    raise ApplyError(undone, target=target.label)
        trees = {t.label: read_tree(t) for t in targets}
        for target in targets:
            seen, mine = trees[target.label], settings(target)
            problem = (tree.verify(seen, mine, leaves[target.label]) if target.label in leaves
                       else _verify(mine, seen))
            if problem:
                raise ApplyError(f"{target.label}: read back: {problem}", target=target.label)
            root = next((s for s in seen if s.root), _NONE)
            log("netem.readback", target=target.label, **root.summary(), **_queue_summary(seen))
        return {label: next((s for s in seen if s.root), None) for label, seen in trees.items()}
    except ApplyError as exc:
        problems = rollback(before, log)
        exc.rolled_back = not problems
        if problems:  # the error says what is still in place, not only what failed first
            exc.args = (f"{exc}; rolling back left: {'; '.join(problems)}",)
        raise
    except BaseException:
        rollback(before, log)
        raise


_NONE = QdiscState(kind="none", handle="", root=True)
Before = tuple[Target, QdiscState | None, LinkGso | None]  # a target's root qdisc and GSO before apply


def rollback(before: Sequence[Before], log: Log = _no_log) -> list[str]:
    """Put each target's root qdisc (and its GSO setting) back as it was; returns the problems (never
    raises)."""
    problems: list[str] = []
    for target, state, gso in reversed(before):
        if gso is not None:
            try:
                problems += [p for p in [_set_gso(target, gso.gso_max_segs, log)] if p]
            except Exception as exc:  # rollback must reach every target
                problems.append(f"{target.label}: {exc}")
        kind = state.kind if state else "noqueue"
        argv = tc.restore_argv(target.dev, kind, state.options if state else {})
        if argv is None:
            argv = tc.clear_argv(target.dev)
            problems.append(f"{target.label}: could not rebuild {kind}; cleared instead")
        # a rebuilt root goes in after ours is gone: `replace … root handle 1: tbf` over a tree's htb `1:`
        # is refused ("must match existing qdisc") and would leave the half-applied tree
        argvs = [argv] if argv == tc.clear_argv(target.dev) else [tc.clear_argv(target.dev), argv]
        rc = -1
        for step in argvs:
            try:
                result = target.runner.run(step)
            except Exception as exc:  # rollback must reach every target
                problems.append(f"{target.label}: {exc}")
                break
            rc = result.returncode
            if rc != 0 and not _nothing_to_delete(step, result):
                problems.append(f"{target.label}: {' '.join(step)}: {result.stderr.strip()}")
                break
        log("netem.rollback", target=target.label, restored=kind, rc=rc)
    return problems


def clear_targets(targets: Sequence[Target], log: Log = _no_log) -> None:
    """Remove our root qdisc from each target (already-default interfaces are left alone), and give back
    full segmentation offload where a queue tree had limited it to one packet."""
    errors = []
    for target in targets:
        try:
            _run_end(target, Impairment(), "replace", log)
            gso = read_gso(target)
            if gso is not None and gso.gso_max_segs == 1:
                errors += [p for p in [_set_gso(target, gso.tso_max_segs, log)] if p]
        except ApplyError as exc:
            errors.append(str(exc))
    if errors:
        raise ApplyError("clear failed: " + "; ".join(errors))
