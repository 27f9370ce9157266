"""A scenario as the VM receives it (pure, both sides): one JSON spec, and compose names as addresses.

The host sends the scenario with the YAML text of every profile it names as one JSON line (an
environment variable of the VM's run script, `SPEC_ENV`), so scenarios and profiles need not be in the
checkout. Compose names in client arguments (`proxy:8080`, `http://proxy:8080/…`) become the namespace
addresses, the same as compose's DNS gives (`netem.topology`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict

from netem import topology
from netem.commands.scenario import Scenario

SPEC_ENV = "QOSLAB_SCENARIO_SPEC"
ADDRESSES = {service: topology.address(service) for service in topology.SERVICES}  # as compose's DNS
CLIENT_ENV = {"CLIENT_PROXY": topology.endpoint("proxy", "http"),
              "CLIENT_URL": f"http://{topology.endpoint('proxy', 'http')}/index.html",
              "CLIENT_UDP_TARGET": topology.endpoint("proxy", "udp"), "CLIENT_CSV": "",
              "CLIENT_SAME_CLOCK": "true"}  # the namespaces share the VM's kernel clock
_HOST = re.compile(r"(^|://|=)(" + "|".join(ADDRESSES) + r")(?=:[0-9]|/|$)")


def translate(arg: str) -> str:
    """A compose service name as the host of `HOST:PORT` or a URL → its address; anything else as is."""
    if "://" not in arg and ":" not in arg:
        return arg  # a bare word ("proxy" as a value) is not an address
    return _HOST.sub(lambda m: m.group(1) + ADDRESSES[m.group(2)], arg, count=1)


def translate_all(args: Iterable[str]) -> list[str]:
    return [translate(a) for a in args]


def encode_spec(scenario: Scenario, profile_texts: dict[str, str]) -> str:
    """The scenario and the YAML text of each of its profiles, as one ASCII JSON line."""
    return json.dumps({"scenario": asdict(scenario), "profiles": profile_texts}, sort_keys=True)


def decode_spec(text: str) -> tuple[Scenario, dict[str, str]]:
    raw = json.loads(text)
    fields = raw["scenario"]
    for key in ("profiles", "tests"):
        fields[key] = tuple(fields[key])
    return Scenario(**fields), {str(k): str(v) for k, v in raw["profiles"].items()}
