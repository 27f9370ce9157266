"""A service's link ends where it runs (container, namespace, host): interfaces found by address.

`find_targets` asks `ip -j addr show` through the given Runner and maps each of the service's links
(`netem.topology`) to the interface that holds an address in that link's subnet. Container start
(`netem.commands.startup`) and the VM's namespaces (`netem.vm.guest.netns`) use it; the parsing is
`netem.core.endpoints`.
"""

from __future__ import annotations

from netem.core import endpoints
from netem.core.engine import Runner, Target
from netem.core.errors import DiscoveryError


def find_targets(service: str, subnets_text: str, runner: Runner) -> list[Target]:
    """This service's link ends, each with the interface that holds an address on that link."""
    subnets = endpoints.parse_subnets(subnets_text)
    result = runner.run(["ip", "-j", "addr", "show"])
    if result.returncode != 0:
        raise DiscoveryError(f"ip -j addr show failed: {result.stderr.strip()}")
    addrs = endpoints.addresses(result.stdout)
    targets = []
    for link in endpoints.service_links(service):
        if link not in subnets:
            raise DiscoveryError(f"NETEM_SUBNETS has no {link}= entry (got {subnets_text!r})")
        dev = endpoints.interface_for(addrs, subnets[link], f"{service} on {link}")
        targets.append(Target(service, link, endpoints.EGRESS[(service, link)], dev, runner))
    return targets
