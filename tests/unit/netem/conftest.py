"""A fake tc/ip that keeps per-interface qdiscs (root and children) and GSO limits in memory."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from netem.core.engine import CommandResult
from netem.core.units import parse_rate_bps


@dataclass
class FakeTc:
    """Behaves like tc on a kernel without sch_netem (unless `netem=True`)."""

    addrs: dict[str, list[str]] = field(default_factory=dict)
    netem: bool = False
    fail_devs: set[str] = field(default_factory=set)
    roots: dict[str, tuple[str, dict[str, object]]] = field(default_factory=dict)
    children: dict[tuple[str, str], tuple[str, dict[str, object]]] = field(default_factory=dict)
    queues: set[str] = field(default_factory=lambda: {"pfifo"})  # queue kinds this kernel has
    gso: dict[str, int] = field(default_factory=dict)  # gso_max_segs per interface (default 65535)
    calls: list[list[str]] = field(default_factory=list)

    def run(self, argv: Sequence[str]) -> CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        if argv[:2] == ["ip", "-j"]:
            data = [{"ifname": name, "addr_info": [{"local": ip} for ip in ips]}
                    for name, ips in self.addrs.items()]
            return CommandResult(0, json.dumps(data), "")
        if argv[:4] == ["ip", "-d", "-j", "link"]:
            link = {"ifname": argv[-1], "gso_max_segs": self.gso.get(argv[-1], 65535), "tso_max_segs": 65535}
            return CommandResult(0, json.dumps([link]), "")
        if argv[:3] == ["ip", "link", "set"]:
            self.gso[argv[4]] = int(argv[argv.index("gso_max_segs") + 1])
            return CommandResult(0, "", "")
        if argv[:4] == ["tc", "-s", "-j", "qdisc"]:
            return CommandResult(0, json.dumps(self._show(argv[6])), "")
        verb, dev = argv[2], argv[4]
        if verb == "del":
            if dev not in self.roots:
                return CommandResult(2, "", "Error: Cannot delete qdisc with handle of zero.\n")
            del self.roots[dev]
            self.children = {key: value for key, value in self.children.items() if key[0] != dev}
            return CommandResult(0, "", "")
        if argv[5] == "parent":
            return self._child(verb, dev, argv[6], argv[9], argv[10:])
        return self._set(verb, dev, argv[8], argv[9:])

    def _show(self, dev: str) -> list[dict[str, object]]:
        kind, options = self.roots.get(dev, ("noqueue", {}))
        entries: list[dict[str, object]] = [
            {"kind": kind, "handle": "1:" if kind != "noqueue" else "0:", "root": True, "options": options,
             "bytes": 10, "packets": 1, "drops": 0, "overlimits": 0}]
        for (name, parent), (child_kind, child_options) in self.children.items():
            if name == dev:
                entries.append({"kind": child_kind, "handle": {"1:1": "2:", "2:1": "3:"}[parent],
                                "parent": parent, "options": child_options, "bytes": 10, "packets": 1,
                                "drops": 2, "backlog": 3028, "qlen": 2})
        return entries

    def _child(self, verb: str, dev: str, parent: str, kind: str, args: list[str]) -> CommandResult:
        if kind not in ("tbf", *self.queues):
            return CommandResult(2, "", "Error: Specified qdisc kind is unknown.\n")
        if dev not in self.roots or (parent == "2:1" and (dev, "1:1") not in self.children):
            return CommandResult(2, "", "Error: Failed to find specified qdisc.\n")
        self.children[(dev, parent)] = (kind, self._options(kind, args))
        return CommandResult(0, "", "")

    @staticmethod
    def _options(kind: str, args: list[str]) -> dict[str, object]:
        if kind != "tbf":
            return {}
        rate = args[args.index("rate") + 1]
        bps = int(rate[:-3]) if rate.endswith("bit") and rate[:-3].isdigit() else parse_rate_bps(rate)
        return {"rate": (bps or 0) // 8, "burst": int(args[args.index("burst") + 1]), "lat": 5000}

    def _set(self, verb: str, dev: str, kind: str, args: list[str]) -> CommandResult:
        if dev in self.fail_devs:
            return CommandResult(2, "", "RTNETLINK answers: Operation not permitted\n")
        if kind == "netem" and not self.netem:
            return CommandResult(2, "", "Error: Specified qdisc kind is unknown.\n")
        if verb == "change" and self.roots.get(dev, ("",))[0] != kind:
            return CommandResult(2, "", "Error: Invalid handle.\n")
        self.roots[dev] = (kind, self._options(kind, args))
        return CommandResult(0, "", "")


@pytest.fixture
def fake_tc() -> FakeTc:
    return FakeTc(addrs={"lo": ["127.0.0.1"], "eth0": ["10.203.1.2"], "eth1": ["10.203.2.2"]})
