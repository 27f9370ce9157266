"""A fake tc/ip that keeps per-interface root qdiscs in memory (no kernel needed)."""

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
    calls: list[list[str]] = field(default_factory=list)

    def run(self, argv: Sequence[str]) -> CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        if argv[:2] == ["ip", "-j"]:
            data = [{"ifname": name, "addr_info": [{"local": ip} for ip in ips]}
                    for name, ips in self.addrs.items()]
            return CommandResult(0, json.dumps(data), "")
        if argv[:4] == ["tc", "-s", "-j", "qdisc"]:
            kind, options = self.roots.get(argv[6], ("noqueue", {}))
            entry = {"kind": kind, "handle": "1:" if kind != "noqueue" else "0:", "root": True,
                     "options": options, "bytes": 10, "packets": 1, "drops": 0, "overlimits": 0}
            return CommandResult(0, json.dumps([entry]), "")
        verb, dev = argv[2], argv[4]
        if verb == "del":
            if dev not in self.roots:
                return CommandResult(2, "", "Error: Cannot delete qdisc with handle of zero.\n")
            del self.roots[dev]
            return CommandResult(0, "", "")
        return self._set(verb, dev, argv[8], argv[9:])

    def _set(self, verb: str, dev: str, kind: str, args: list[str]) -> CommandResult:
        if dev in self.fail_devs:
            return CommandResult(2, "", "RTNETLINK answers: Operation not permitted\n")
        if kind == "netem" and not self.netem:
            return CommandResult(2, "", "Error: Specified qdisc kind is unknown.\n")
        if verb == "change" and self.roots.get(dev, ("",))[0] != kind:
            return CommandResult(2, "", "Error: Invalid handle.\n")
        options: dict[str, object] = {}
        if kind == "tbf":
            rate = args[args.index("rate") + 1]
            bps = int(rate[:-3]) if rate.endswith("bit") and rate[:-3].isdigit() else parse_rate_bps(rate)
            options = {"rate": (bps or 0) // 8, "burst": int(args[args.index("burst") + 1]), "lat": 5000}
        self.roots[dev] = (kind, options)
        return CommandResult(0, "", "")


@pytest.fixture
def fake_tc() -> FakeTc:
    return FakeTc(addrs={"lo": ["127.0.0.1"], "eth0": ["10.203.1.2"], "eth1": ["10.203.2.2"]})
