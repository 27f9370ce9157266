"""The netem agent: stays in a container (or namespace) after start-up and keeps its link ends as the
profile says over time — replays traces through netlink, sends recorded delay tables, and (the proxy of a
client mix) adds a per-destination leaf for each client replica that registers.

    python -m netem.commands.agent            started by the start-up step, as root
    python -m netem.commands.agent --log-file --detach   by the controller: returns at once, logs to the state
    python -m netem.commands.agent --stop     ends this container's agent

Every change is sent on one rtnetlink socket at its due instant (`netem.traces.scheduler`); its lateness is
kept and reported: `event=netem.replay` lines every 5 s and at the end, `status/HOST.json` in the state
directory (what `python -m netem show` prints), and one row per change in `netem-timeline.csv`
(`NETEM_TIMELINE`, default beside the results) so any run can be plotted against its link.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from netem import topology
from netem.backends.local import LocalRunner
from netem.backends.netlink import QdiscSocket, interface_index
from netem.commands import plans, situation, state
from netem.core import dnsptr, links, tc
from netem.core.engine import add_leaves
from netem.core.errors import NetemError
from netem.core.fields import Impairment, custom_table
from netem.traces import timeline
from netem.traces.load import Loaded
from netem.traces.scheduler import Applied, Batch, Lateness, Replayer
from services.common import log
from services.common.clock import SYSTEM_CLOCK

TIMELINE_ENV = "NETEM_TIMELINE"
SPIN_NS = 200_000  # sleep until this close to a change, then spin (as the client's sender does)
POLL_S = 0.25
DNS_EVERY_S = 2.0
CLIENT_NAMES_ENV = "NETEM_CLIENT_NAMES"  # names whose addresses are client replicas (compose, swarm)
DEFAULT_CLIENT_NAMES = "client,tasks.client"
STATUS_EVERY_S = 1.0
LOG_EVERY_S = 5.0


@dataclass(frozen=True)
class Driven:
    """One netem qdisc the agent drives: an end's own settings or one destination's leaf."""

    plan: plans.EndPlan
    to: str | None
    imp: Impairment  # static settings (the trace overrides fields from its schedule)

    @property
    def ref(self) -> timeline.EndRef:
        target = self.plan.target
        return timeline.EndRef(target.service, target.link, target.direction, self.to or "")


def driven(loaded: Loaded, end_plans: Sequence[plans.EndPlan]) -> list[Driven]:
    """The qdiscs that need netlink: a trace or a table file, with a fixed queue limit over the trace."""
    found = []
    for plan in end_plans:
        for to, imp in [(None, plan.own), *((leaf.to, leaf.imp) for leaf in plan.leaves)]:
            if imp.trace is None and custom_table(imp) is None:
                continue
            if imp.limit is None and imp.trace is not None:
                states = [replace(imp, **c.values) for c in loaded.schedules[imp.trace].changes]
                imp = replace(imp, limit=max(tc.default_limit_packets(s) for s in states))
            found.append(Driven(plan, to, imp))
    return found


def wait_until(stop: threading.Event) -> Any:
    def wait(mono_ns: int) -> None:
        while not stop.is_set():
            left = mono_ns - time.monotonic_ns()
            if left <= SPIN_NS:
                break
            stop.wait(min((left - SPIN_NS) / 1e9, 0.05))
        while time.monotonic_ns() < mono_ns and not stop.is_set():
            pass
    return wait


class TimelineFile:
    """Appends timeline rows under an exclusive lock, the header once (several agents share the file)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.path is None or not rows:
            return
        try:
            with self.path.open("a", newline="", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                writer = csv.DictWriter(handle, fieldnames=timeline.COLUMNS)
                if handle.tell() == 0:
                    writer.writeheader()
                writer.writerows(rows)
        except OSError as exc:
            log.event("netem.timeline", path=str(self.path), result="not written", error=str(exc))
            self.path = None


def timeline_path(env: Mapping[str, str]) -> Path | None:
    given = env.get(TIMELINE_ENV)
    if given is not None:
        return Path(given) if given else None
    results = Path(env.get("QOSLAB_RESULTS_DIR") or "/results")
    return results / "netem-timeline.csv" if results.is_dir() else None


class Agent:
    def __init__(self, env: Mapping[str, str], sit: situation.Situation, end_plans: list[plans.EndPlan],
                 stop: threading.Event) -> None:
        assert sit.loaded is not None
        self.env, self.sit, self.loaded = env, sit, sit.loaded
        self.plans, self.stop = end_plans, stop
        self.root = state.state_dir(env)
        self.host = socket.gethostname()
        self.items = {d.ref.label: d for d in driven(self.loaded, end_plans)}
        self.timeline = TimelineFile(timeline_path(env))
        self.sock = QdiscSocket()
        self.indexes = {label: interface_index(d.plan.target.dev) for label, d in self.items.items()}
        self.sent_tables: set[str] = set()
        self.lateness = Lateness()  # due → landed
        self.sent = Lateness()  # due → sent
        self.last_status = self.last_log = 0.0

    def prepare(self, batch: Batch) -> list[tuple[str, int, bytes, bool]]:
        """The batch's messages, encoded ahead of its instant: (end, sequence number, bytes, with a table)."""
        out = []
        for label, values in batch.items():
            item = self.items[label]
            imp = replace(item.imp, **values)
            handle, parent = item.plan.netlink_handles(item.to)
            table = custom_table(imp)
            dist = self.loaded.tables[table] if table and label not in self.sent_tables else None
            seq, message = self.sock.encode(self.indexes[label], imp, handle=handle, parent=parent, dist=dist)
            out.append((label, seq, message, dist is not None))
        return out

    def apply(self, messages: list[tuple[str, int, bytes, bool]]) -> None:
        for label, seq, message, table in messages:
            self.sock.request(message, seq, label)
            if table:
                self.sent_tables.add(label)

    def applied(self, event: Applied) -> None:
        now = time.time_ns()
        rows = [timeline.row(self.items[label].ref, replace(self.items[label].imp, **values), now,
                             event.due_wall_ns, event.late_ns) for label, values in event.changes.items()]
        self.timeline.append(rows)
        mono = time.monotonic()
        if mono - self.last_status >= STATUS_EVERY_S:
            self.write_status("replaying")
            self.last_status = mono
        if mono - self.last_log >= LOG_EVERY_S:
            log.event("netem.replay", profile=self.sit.name, **self.lateness.summary())
            self.last_log = mono

    def write_status(self, phase: str, **extra: str) -> None:
        status = {"host": self.host, "service": self.env.get("QOSLAB_SERVICE", ""),
                  "profile": self.sit.name, "phase": phase, "epoch_ns": self.sit.epoch_ns, "pid": os.getpid(),
                  "updated_ns": time.time_ns(), "ends": sorted(self.items), **extra,
                  **self.lateness.summary(),
                  **{f"sent_{k}": v for k, v in self.sent.summary().items() if k.startswith("late")}}
        with contextlib.suppress(OSError):  # no state directory: the log lines still say it
            state.write_status(self.root, self.host, status)

    def replay(self) -> None:
        schedules = {label: self.loaded.schedules[item.imp.trace] for label, item in self.items.items()
                     if item.imp.trace is not None}
        static: Batch = {label: {} for label, item in self.items.items() if item.imp.trace is None}
        if static:
            self.apply(self.prepare(static))  # recorded tables without a trace: sent once
        if not schedules:
            return
        replayer = Replayer(schedules, self.apply, SYSTEM_CLOCK, wait_until(self.stop), self.sit.epoch_ns,
                            self.applied, self.lateness, self.prepare, self.sent)
        replayer.run(stop=self.stop.is_set)

    def _add(self, tree_plans: Sequence[plans.EndPlan], replica: plans.Replica, found_by: str) -> None:
        leaves = plans.replica_leaves(self.loaded.profile, [replica])
        for plan in tree_plans:
            add_leaves(plan.target, leaves, log.event)
        cls = plans.replica_class(self.loaded.profile, replica.index)
        log.event("netem.replica", address=",".join(replica.addresses), index=replica.index,
                  found_by=found_by, condition=cls.name if cls else "-", leaves=len(leaves))

    def _from_dns(self) -> list[plans.Replica]:
        """Replicas the container's DNS knows (a swarm's `tasks.client` on every node, compose's `client`),
        each numbered from its name as the replica numbers itself."""
        server = situation.nameserver()
        found = []
        for name in self.env.get(CLIENT_NAMES_ENV, DEFAULT_CLIENT_NAMES).split(","):
            for address in situation.resolver(name.strip()) if name.strip() else []:
                ptr = situation.ptr_name(address, server) if server else None
                number = dnsptr.replica_number(ptr) if ptr else None
                if number:
                    found.append(plans.Replica(address, number))
        return found

    def follow_replicas_logged(self) -> None:
        """`follow_replicas` in its thread: a failure is logged and reported in the status, not lost."""
        try:
            self.follow_replicas()
        except Exception as exc:  # the thread's end must be seen: the replicas wait for their leaves
            log.event("netem.agent", result="failed", part="replicas", error=f"{type(exc).__name__}: {exc}")
            self.write_status("failed", error=f"replicas: {exc}")
            self.stop.set()

    def follow_replicas(self) -> None:
        """The proxy of a client mix: a leaf for every replica that registers (then its ready mark) or that
        its DNS names, polled until the agent stops."""
        tree_plans = [p for p in self.plans if p.tree and self.loaded.profile.clients is not None
                      and (p.target.link, p.target.direction) == ("edge", "down")]
        done: dict[str, int] = {}  # address → the replica number its leaf was made for
        ready: set[str] = set()  # registered hosts told so
        last_dns = 0.0
        while tree_plans and not self.stop.is_set():
            try:
                regs = state.registrations(self.root)
            except OSError:
                regs = []
            for reg in regs:
                replica = plans.Replica(reg.address, reg.index, reg.address6)
                if plans.leaf_due(done, replica):
                    self._add(tree_plans, replica, f"registration {reg.host}")
                    done.update(dict.fromkeys(replica.addresses, reg.index))
                if reg.host not in ready:
                    state.mark_ready(self.root, reg.host)
                    ready.add(reg.host)
            if time.monotonic() - last_dns >= DNS_EVERY_S:
                last_dns = time.monotonic()
                for replica in self._from_dns():
                    if plans.leaf_due(done, replica):
                        self._add(tree_plans, replica, "dns")
                        done[replica.address] = replica.index
            self.stop.wait(POLL_S)


def run(env: Mapping[str, str], stop: threading.Event) -> int:
    root = state.state_dir(env)
    sit = situation.situation(env, root)
    if sit.loaded is None:
        return 0
    service = env.get("QOSLAB_SERVICE", "")
    subnets_text = env.get("NETEM_SUBNETS") or topology.SUBNETS_TEXT
    targets = links.find_targets(service, subnets_text, LocalRunner())
    mine = own_class(env, sit, service, root)
    end_plans = situation.container_plans(sit, targets, subnets_text, mine, root)
    agent = Agent(env, sit, end_plans, stop)
    agent.write_status("running")  # before anything: a replica waits for its leaf only if it sees the proxy's
    follower = threading.Thread(target=agent.follow_replicas_logged, daemon=True)
    follower.start()
    log.event("netem.agent", profile=sit.name, epoch_ns=sit.epoch_ns, ends=",".join(agent.items) or "-")
    for label, item in agent.items.items():
        if item.imp.trace is not None and item.imp.gemodel is not None:
            log.event("netem.agent", end=label, warning="every change of this traced end restarts its "
                      "Gilbert-Elliott chain in Good (the kernel's netem_change): put the loss on another "
                      "end of the same direction (docs/traces.md)")
    phase, error = "stopped", ""
    try:
        agent.replay()
        while follower.is_alive() and not stop.is_set():
            stop.wait(1.0)
    except NetemError as exc:  # the kernel refused a change: say so where `show` looks
        phase, error = "failed", str(exc)
        raise
    finally:
        stop.set()
        agent.write_status(phase, **({"error": error} if error else {}))
        agent.sock.close()
        log.event("netem.replay", profile=sit.name, phase=phase, **agent.lateness.summary())
    return 0


def own_class(env: Mapping[str, str], sit: situation.Situation, service: str,
              root: Path) -> Any:
    """A client replica's class, from its registration (written by its start-up step)."""
    if service != "client" or sit.loaded is None or sit.loaded.profile.clients is None:
        return None
    host = socket.gethostname()
    for reg in state.registrations(root):
        if reg.host == host:
            return plans.replica_class(sit.loaded.profile, reg.index)
    return None


def stop_running(env: Mapping[str, str], wait_s: float = 3.0) -> int:
    """`--stop`: end this container's agent (the pid in its status file), as the controller does before a
    new profile; 0 when none runs any more."""
    root = state.state_dir(env)
    path = root / "status" / f"{socket.gethostname()}.json"
    try:
        pid = int(json.loads(path.read_text(encoding="utf-8")).get("pid", 0))
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, json.JSONDecodeError):
        return 0
    if b"netem.commands.agent" not in cmdline:
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return 0
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return 0


def _to_log_file(env: Mapping[str, str]) -> None:
    """Started by the controller (detached: no terminal, no container log to write to — the service runs as
    PID 1 under another user), the agent writes its lines to log/HOST.log in the stack's state."""
    path = state.state_dir(env) / "log" / f"{socket.gethostname()}.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        out = path.open("a", buffering=1, encoding="utf-8")  # for the life of the process
    except OSError:
        return
    sys.stdout = sys.stderr = out


def _detach() -> bool:
    """`--detach`: the caller gets its answer at once (nsenter or `docker exec` return) while a child in a
    session of its own, its standard streams on /dev/null, goes on as the agent; → True in the caller."""
    if os.fork() > 0:
        return True
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    return False


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--stop" in args:
        return stop_running(os.environ)
    if "--detach" in args and _detach():
        return 0
    if "--log-file" in args:
        _to_log_file(os.environ)
    log.configure("netem", stream=sys.stdout)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        return run(os.environ, stop)
    except NetemError as exc:
        log.event("netem.agent", result="failed", error=str(exc))
        print(f"netem.agent: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
