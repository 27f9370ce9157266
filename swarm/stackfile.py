"""compose.yaml + compose.swarm.yaml → a stack file that `docker stack deploy` accepts (pure functions).

compose.yaml stays the one source of services, images, environment, health checks and subnets. What
swarm refuses or ignores is taken out here, by rule, instead of being kept in a second copy:
  build, depends_on        swarm never builds and has no start order (the client retries instead)
  ipv4_address, ipv6_address  swarm assigns task addresses; netem finds interfaces by subnet
  ports                    swarm publishes on every interface of every node (no 127.0.0.1 there);
                           kept only with `publish=True`, without the host address
  container_name           swarm names tasks itself
  services with profiles:  compose starts them only when asked (the netem tools container); a stack
                           has no profiles, so they are left out
  ipam ip_range, gateway   the stack schema takes only `subnet` (the range kept compose's fixed
                           addresses apart from IPAM's; swarm has no fixed addresses)
  enable_ipv6, v6 subnets  the stack schema (compose file v3) has no `enable_ipv6`, and swarm's service
                           DNS answers A records only, so the overlays stay IPv4 (docs/swarm.md, "IPv6")
compose.swarm.yaml is then merged on top: mappings merge key by key, anything else replaces, and a
null value deletes the key. `${VAR}` references are left for `docker stack deploy` to interpolate.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DROPPED_KEYS = ("build", "depends_on", "container_name")


class StackFileError(ValueError):
    """compose.yaml or the overlay does not have the shape the generator expects."""


@dataclass(frozen=True)
class StackOptions:
    """What the user chooses at generation time."""

    registry: str = ""        # "HOST:PORT" → images become HOST:PORT/qoslab/NAME:TAG
    placement: bool = True    # False: no node-label constraints (a single-node swarm)
    publish: bool = False   # keep the published ports, in host mode (dnsrr services have no ingress):
                              # bound on every interface of the node that runs the task


def merge(base: Any, overlay: Any) -> Any:
    """Overlay onto base: mappings merge recursively, None deletes a key, anything else replaces."""
    if not isinstance(base, Mapping) or not isinstance(overlay, Mapping):
        return copy.deepcopy(overlay)
    merged = {key: copy.deepcopy(value) for key, value in base.items()}
    for key, value in overlay.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge(merged.get(key), value)
    return merged


def _without_extensions(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if not str(key).startswith("x-")}


def _network_names(networks: Any, service: str) -> list[str]:
    """`{edge: {ipv4_address: …}}` or `[edge]` → `[edge]` (aliases and fixed addresses dropped)."""
    if isinstance(networks, Mapping):
        return [str(name) for name in networks]
    if isinstance(networks, list):
        return [str(name) for name in networks]
    raise StackFileError(f"services.{service}.networks: expected a list or mapping, got {networks!r}")


PORT = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3}){3}:|\[[0-9A-Fa-f:.]+\]:)?(?:(?P<published>.+):)?"
                  r"(?P<target>\d+)(?:/(?P<proto>tcp|udp))?$")


def _published(ports: list[Any], service: str) -> list[dict[str, Any]]:
    """`127.0.0.1:${P:-8080}:8080` and `[::1]:${P:-8080}:8080` → one long-syntax port without the host
    address (swarm has none: it binds every address of both families)."""
    out: list[dict[str, Any]] = []
    for item in ports:
        found = PORT.match(str(item))
        if not found:
            raise StackFileError(f"services.{service}.ports: cannot read {item!r} (HOST:PUBLISHED:TARGET)")
        port = {"target": int(found["target"]), "published": found["published"] or found["target"],
                "protocol": found["proto"] or "tcp", "mode": "host"}
        if port not in out:
            out.append(port)
    return out


def swarm_service(name: str, service: Mapping[str, Any], options: StackOptions) -> dict[str, Any]:
    """One compose service with what swarm refuses or ignores taken out."""
    out = {key: copy.deepcopy(value) for key, value in service.items() if key not in DROPPED_KEYS}
    if "networks" in out:
        out["networks"] = _network_names(out["networks"], name)
    ports = out.pop("ports", None)
    if ports and options.publish:
        out["ports"] = _published(list(ports), name)
    if options.registry and "image" in out:
        out["image"] = f"{options.registry.rstrip('/')}/{out['image']}"
    return out


def swarm_network(network: Any) -> Any:
    """A compose network with only the IPv4 subnets of its IPAM config (what the stack schema accepts)."""
    if not isinstance(network, Mapping):
        return network
    out = {key: copy.deepcopy(value) for key, value in network.items() if key != "enable_ipv6"}
    ipam = out.get("ipam")
    if isinstance(ipam, dict) and isinstance(ipam.get("config"), list):
        ipam["config"] = [{"subnet": item["subnet"]} for item in ipam["config"]
                          if isinstance(item, Mapping) and ":" not in str(item.get("subnet", ":"))]
    return out


def _drop_placement(services: dict[str, Any]) -> None:
    for service in services.values():
        deploy = service.get("deploy")
        if isinstance(deploy, dict):
            deploy.pop("placement", None)


def stack_document(compose: Mapping[str, Any], overlay: Mapping[str, Any],
                   options: StackOptions = StackOptions()) -> dict[str, Any]:
    """The stack file as a mapping, ready for `yaml.safe_dump`."""
    services = compose.get("services")
    if not isinstance(services, Mapping) or not services:
        raise StackFileError("compose.yaml: no services")
    extra = set(overlay.get("services") or {}) - set(services)
    if extra:
        raise StackFileError(f"compose.swarm.yaml: services not in compose.yaml: {', '.join(sorted(extra))}")
    base = _without_extensions(compose)
    base["services"] = {name: swarm_service(name, svc, options) for name, svc in services.items()
                        if not (isinstance(svc, Mapping) and svc.get("profiles"))}
    base["networks"] = {name: swarm_network(net) for name, net in (compose.get("networks") or {}).items()}
    doc: dict[str, Any] = merge(base, _without_extensions(overlay))
    if not options.placement:
        _drop_placement(doc["services"])
    doc.pop("name", None)  # compose's project name; the stack name is given to `docker stack deploy`
    return doc
