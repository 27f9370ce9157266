"""`plan`, the dry run: the apply path itself, run against a model of tc that records what it is told.

`plan_lines` applies the profile with `engine.apply_ends` and replays its steps with `steps.replay_steps`
(clock and sleep simulated), each end's runner a `DryRunTc` that keeps the root qdiscs in memory. So the
plan holds exactly the commands apply runs, in its order: the pre-clear of a netem root, an unimpaired end
skipped while its default qdisc is in force, `change` at each step for the ends that change. The reads
apply makes before and after (`tc -s -j qdisc show`) are answered by the model and not listed.
Interfaces start with their default qdisc, or with the profile given as `over` in force. Pure.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from netem.core import tc, tree
from netem.core.engine import CommandResult, Target, apply_ends
from netem.core.fields import custom_table
from netem.core.links import ends_on
from netem.core.profile import Profile
from netem.core.queue import MODULES
from netem.core.steps import replay_steps
from netem.core.units import parse_rate_bps

NO_ROOT_STDERR = "Error: Cannot delete qdisc with handle of zero.\n"  # tc del on a default root
GSO_DEFAULT = 65535  # a veth's gso_max_segs and tso_max_segs


@dataclass
class DryRunTc:
    """tc (and `ip link`'s GSO limit) as a model: each interface's qdiscs in memory, answering `show` as
    `tc -s -j` would."""

    roots: dict[str, tuple[str, dict[str, object]]] = field(default_factory=dict)
    children: dict[tuple[str, str], tuple[str, dict[str, object]]] = field(default_factory=dict)
    gso: dict[str, int] = field(default_factory=dict)

    def show(self, dev: str) -> CommandResult:
        kind, options = self.roots.get(dev, ("noqueue", {}))
        handle = "0:" if kind == "noqueue" else "1:"
        entries: list[dict[str, object]] = [
            {"kind": kind, "handle": handle, "root": True, "options": options}]
        entries += [{"kind": child, "parent": parent, "options": opts}
                    for (name, parent), (child, opts) in self.children.items() if name == dev]
        return CommandResult(0, json.dumps(entries), "")

    def run(self, argv: Sequence[str]) -> CommandResult:
        argv = list(argv)
        if argv[:4] == tc.show_argv("")[:4]:
            return self.show(argv[6])
        if argv[:4] == tc.link_show_argv("")[:4]:
            link = {"gso_max_segs": self.gso.get(argv[-1], GSO_DEFAULT), "tso_max_segs": GSO_DEFAULT}
            return CommandResult(0, json.dumps([link]), "")
        if argv[:3] == tc.gso_argv("", 1)[:3]:
            self.gso[argv[4]] = int(argv[-1])
            return CommandResult(0, "", "")
        verb, dev = argv[2], argv[4]
        if verb == "del":
            found = self.roots.pop(dev, None)
            self.children = {key: value for key, value in self.children.items() if key[0] != dev}
            return CommandResult(0, "", "") if found else CommandResult(2, "", NO_ROOT_STDERR)
        if argv[5] == "parent":
            kind, args = argv[9], argv[10:]
            self.children[(dev, argv[6])] = (kind, tbf_options(args) if kind == "tbf" else {})
            return CommandResult(0, "", "")
        kind, args = argv[8], argv[9:]
        if verb == "change" and self.roots.get(dev, ("",))[0] != kind:
            return CommandResult(2, "", "Error: Invalid handle.\n")
        self.roots[dev] = (kind, tbf_options(args) if kind == "tbf" else {})
        return CommandResult(0, "", "")


def tbf_options(args: Sequence[str]) -> dict[str, object]:
    """What the kernel reports for `tbf rate R burst B limit L`: bytes/s, bytes, and the queue in µs."""
    rate_b = (parse_rate_bps(args[args.index("rate") + 1]) or 8) // 8
    burst_b = int(args[args.index("burst") + 1])
    limit_b = int(args[args.index("limit") + 1]) if "limit" in args else burst_b
    return {"rate": rate_b, "burst": burst_b, "lat": max(0, limit_b - burst_b) * 1_000_000 // rate_b}


Record = tuple[float, str, list[str]]  # (seconds after apply, device, the command)


@dataclass(frozen=True)
class Recorder:
    """A Runner that passes every command to the model and records those that change a qdisc."""

    model: DryRunTc
    clock: Callable[[], float]
    records: list[Record]

    def run(self, argv: Sequence[str]) -> CommandResult:
        if list(argv[:4]) not in (tc.show_argv("")[:4], tc.link_show_argv("")[:4]):  # reads are not listed
            self.records.append((self.clock(), argv[4], list(argv)))
        return self.model.run(argv)


class _Clock:
    """Simulated time for the step replay: sleeping moves it on."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def monotonic(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.now_s += seconds


def dry_run(profile: Profile, link: str = "all",
            over: Profile | None = None) -> tuple[list[Target], list[Record]]:
    """Apply `profile` (and replay its steps) on a model of tc; → the ends and every command run."""
    model, clock = DryRunTc(), _Clock()
    records: list[Record] = []
    ends = [(svc, lnk, direction, f"<{svc}@{lnk}>") for svc, lnk, direction in ends_on(link)]
    if over is not None:
        apply_ends([Target(*end, model) for end in ends], over.ends)
    targets = [Target(*end, Recorder(model, clock.monotonic, records)) for end in ends]
    apply_ends(targets, profile.ends)
    replay_steps(targets, profile, log=lambda name, **fields: None, monotonic=clock.monotonic,
                 sleep=clock.sleep)
    return targets, records


def plan_lines(profile: Profile, link: str = "all", over: Profile | None = None) -> list[str]:
    """Human-readable plan: the commands per end at apply, then those of each step."""
    targets, records = dry_run(profile, link, over)
    lines = [f"# {profile.name}: {profile.description}"]
    for target in targets:
        kind = profile.ends[(target.link, target.direction)].layout or "default qdisc"
        head = f"{target.service} {target.link}.{target.direction} [{kind}]:"
        mine = [" ".join(argv) for at_s, dev, argv in records if dev == target.dev and at_s == 0]
        lines += [f"{head} {text}" for text in mine] or [f"{head} nothing to run (default qdisc in force)"]
    by_dev = {target.dev: target for target in targets}
    for at_s, dev, argv in records:
        if at_s > 0:
            end = by_dev[dev]
            lines.append(f"+{at_s:g}s {end.service} {end.link}.{end.direction}: {' '.join(argv)}")
    lines += dynamic_lines(profile)
    needs = sorted({key for imp in profile.ends.values() for key in imp.netem_keys()})
    if needs:
        lines.append(f"# needs sch_netem for: {', '.join(needs)}")
    queues = sorted({imp.queue.kind for imp in profile.ends.values()
                     if imp.queue is not None and imp.queue.kind != "pfifo"})  # pfifo is always built in
    if queues:
        lines.append(f"# the queue needs {', '.join(MODULES[kind] for kind in queues)} "
                     f"(python -m netem.tools.capability --qdisc {queues[0]})")
    return lines


def dynamic_lines(profile: Profile) -> list[str]:
    """What apply does beyond the roots: per-destination trees, a client mix, traces and tables."""
    lines = []
    for (link, direction), dests in profile.destinations.items():
        sender = next((svc for svc, lnk, way in ends_on(link) if way == direction), "?")
        leaves = [tree.Leaf(dest, imp) for dest, imp in dests.items() if _is_address(dest)]
        named = [dest for dest in dests if not _is_address(dest)]
        own = profile.ends[(link, direction)]
        for argv in tree.tree_argvs(f"<{sender}@{link}>", own, leaves):
            lines.append(f"{sender} {link}.{direction} [to:]: {' '.join(argv)}")
        for dest in named:
            lines.append(f"{sender} {link}.{direction} [to:]: a leaf per address of {dest} on {link} "
                         f"({', '.join(dests[dest].set_keys())}), found when applied")
    if profile.clients is not None:
        for cls in profile.clients.classes:
            share = (f"{cls.share_pct:g}%" if cls.share_pct is not None
                     else f"replicas {sorted(cls.indices or [])}")
            up, down = cls.ends[("edge", "up")], cls.ends[("edge", "down")]
            lines.append(f"# clients {cls.name} ({share}): replica egress {' '.join(up.set_keys()) or '-'}; "
                         f"proxy leaf {' '.join(down.set_keys()) or '-'} (a tree on the proxy's edge)")
    for key, imp in profile.all_settings():
        if imp.trace is not None:
            lines.append(f"# {key}: trace {imp.trace.file} replayed by the netem agent (netlink)")
        elif custom_table(imp):
            lines.append(f"# {key}: delay table {imp.distribution} sent by the netem agent (netlink)")
    return lines


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True
