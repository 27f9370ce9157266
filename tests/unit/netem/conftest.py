"""A fake tc/ip: the dry run's model of tc (`netem.core.plan.DryRunTc`) plus addresses, counters, a
kernel without sch_netem (unless `netem=True`) or a queue's qdisc (`queues`), interfaces that refuse and
a kernel that reports another queue kind than it was given (`misreport`) (no kernel needed)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from netem import topology
from netem.core.engine import CommandResult
from netem.core.plan import DryRunTc


@dataclass
class FakeTc(DryRunTc):
    """Behaves like tc on a kernel without sch_netem (unless `netem=True`); records every call."""

    addrs: dict[str, list[str]] = field(default_factory=dict)
    netem: bool = False
    fail_devs: set[str] = field(default_factory=set)
    calls: list[list[str]] = field(default_factory=list)
    queues: set[str] = field(default_factory=lambda: {"pfifo", "fq_codel", "cake"})  # what this kernel has
    misreport: dict[str, str] = field(default_factory=dict)  # kind given → kind `show` reports

    def show(self, dev: str) -> CommandResult:
        entries = json.loads(super().show(dev).stdout)
        for entry in entries:
            entry.update(bytes=10, packets=1, drops=0, overlimits=0)
            if "parent" in entry:  # a queue tree's child: something queued and dropped
                entry.update(kind=self.misreport.get(entry["kind"], entry["kind"]), drops=2, backlog=3028,
                             qlen=2)
        return CommandResult(0, json.dumps(entries), "")

    def run(self, argv: Sequence[str]) -> CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        if argv[:2] == ["ip", "-j"]:
            data = [{"ifname": name, "addr_info": [{"local": ip} for ip in ips]}
                    for name, ips in self.addrs.items()]
            return CommandResult(0, json.dumps(data), "")
        if argv[2] in ("replace", "change") and argv[4] in self.fail_devs:
            return CommandResult(2, "", "RTNETLINK answers: Operation not permitted\n")
        if argv[2] in ("replace", "change") and argv[8] == "netem" and not self.netem:
            return CommandResult(2, "", "Error: Specified qdisc kind is unknown.\n")
        if argv[0] == "tc" and argv[5:6] == ["parent"] and argv[9] not in ("tbf", *self.queues):
            return CommandResult(2, "", "Error: Specified qdisc kind is unknown.\n")
        return super().run(argv)


@pytest.fixture
def fake_tc() -> FakeTc:
    return FakeTc(addrs={"lo": ["127.0.0.1"], "eth0": [topology.ADDRESSES[("proxy", "edge")]],
                         "eth1": [topology.ADDRESSES[("proxy", "core")]]})
