"""Profiles: one YAML file per profile, settings per link (`edge`, `core`, `all`) and direction.

    description: Typical 4G/LTE mobile access      # required
    all:   {delay: 20ms, jitter: 5ms}              # both links, both directions
    edge:
      up:   {rate: 10mbit}                         # client → server on the edge link
      down: {rate: 40mbit, loss: 0.1%}             # server → client
    steps:                                         # optional, time-varying (cumulative)
      - at: 10s
        edge: {down: {rate: 5mbit}}

Resolution per end: all < all.DIR < LINK < LINK.DIR, field by field. Each step merges onto the state
before it; a step may not change an end's qdisc kind (tc qdisc change cannot switch kinds).
A block may hold `to: {DEST: settings}`: settings for the packets an end sends to DEST (a service or
an address) only, on top of the end's own; `clients:` gives client replicas different edge settings
(docs/traces.md). `trace:` files and `distribution: NAME.dist` tables are read by netem.traces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from netem import topology
from netem.core import blocks, rules, units
from netem.core.blocks import DIRECTIONS, LINK_KEYS, LINKS, TO, End, Ends
from netem.core.clients import ClientMix, Loader, parse_clients
from netem.core.errors import ProfileError
from netem.core.fields import Impairment, merge

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
_TOP_KEYS = ("name", "description", *LINK_KEYS, "steps", "clients")
__all__ = ["DIRECTIONS", "LINKS", "ClientMix", "End", "Ends", "Profile", "Step", "available", "load_profile",
           "parse_profile", "resolve_path"]

Destinations = dict[End, dict[str, Impairment]]  # end → destination (service or address) → its settings


@dataclass(frozen=True)
class Step:
    at_s: float
    ends: Ends  # the full state from `at_s` on


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    source: str
    ends: Ends = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    destinations: Destinations = field(default_factory=dict)
    clients: ClientMix | None = None

    def kinds(self) -> dict[End, str | None]:
        return {end: imp.layout for end, imp in self.ends.items()}

    def all_settings(self) -> list[tuple[str, Impairment]]:
        """Every settings block the profile applies somewhere, with its key path (for file checks)."""
        found = [(f"{link}.{d}", imp) for (link, d), imp in self.ends.items()]
        found += [(f"{link}.{d}.to.{dest}", imp) for (link, d), dests in self.destinations.items()
                  for dest, imp in dests.items()]
        if self.clients:
            found += [(f"clients.{c.name}.{link}.{d}", imp) for c in self.clients.classes
                      for (link, d), imp in c.ends.items()]
        return found


def _own_service(link: str, direction: str) -> str | None:
    """The qoslab service whose egress carries (link, direction)."""
    return next((svc for (svc, lnk), d in topology.EGRESS.items() if lnk == link and d == direction), None)


def _resolve_destinations(raw: Mapping[str, object], ends: Ends, source: str) -> Destinations:
    """Per end, each destination's settings: the end's own, then `to:` blocks (all < all.DIR < LINK < …)."""
    parsed = blocks.parse_blocks(raw, source, "")
    found: Destinations = {}
    for (link, direction), own in ends.items():
        dests: dict[str, Impairment] = {}
        for name in ("all", link):
            for part in ("", direction):
                for dest, imp in parsed.get(name, {}).get(part, (Impairment(), {}))[1].items():
                    if dest == _own_service(link, direction):
                        if part:  # named explicitly on this end: nothing ever leaves a service towards itself
                            raise ProfileError(source, f"{name}.{part}.{TO}.{dest}", dest,
                                               f"another service: {link}.{direction} is {dest}'s own egress")
                        continue
                    dests[dest] = merge(dests.get(dest, Impairment()), imp)
        if dests:
            found[(link, direction)] = {dest: merge(own, imp) for dest, imp in dests.items()}
    return found


def _check_destinations(dests: Destinations, source: str) -> None:
    for (link, direction), per_dest in dests.items():
        for dest, imp in per_dest.items():
            for bad in rules.violations(imp):
                raise ProfileError(source, f"{link}.{direction}.{TO}.{dest}.{bad.key}", bad.value,
                                   bad.message)


TREE_QUEUE = ("a per-destination end (to:, clients:) is an HTB tree with one qdisc per leaf; queue: builds "
              "a tree of its own under netem: not on such an end")


def _check_tree_queues(ends: Ends, destinations: Destinations, clients: ClientMix | None,
                       source: str) -> None:
    """`queue:` cannot go on an end that becomes an HTB tree (netem.core.tree)."""
    shaped = [(f"{link}.{d}", ends[(link, d)]) for link, d in destinations]
    shaped += [(f"{link}.{d}.{TO}.{dest}", imp) for (link, d), dests in destinations.items()
               for dest, imp in dests.items()]
    if clients:
        shaped += [("edge.down", ends[("edge", "down")])]
        shaped += [(f"clients.{c.name}.edge.down", c.ends[("edge", "down")]) for c in clients.classes
                   if ("edge", "down") in c.ends]
    for path, imp in shaped:
        if imp.queue is not None:
            raise ProfileError(source, f"{path}.queue", imp.queue.kind, TREE_QUEUE)


def _parse_steps(raw: object, base: Ends, source: str) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        raise ProfileError(source, "steps", raw, "a list of {at: 10s, edge/core/all: settings}")
    steps: list[Step] = []
    state, last_s = base, 0.0
    for index, item in enumerate(raw):
        path = f"steps[{index}]"
        if not isinstance(item, Mapping):
            raise ProfileError(source, path, item, "a mapping with at: and edge/core/all")
        for key in item:
            if key not in ("at", *LINK_KEYS):
                raise ProfileError(source, f"{path}.{key}", item[key],
                                   "unknown key; allowed: at, all, edge, core")
        at_s = units.parse_seconds(item.get("at"))
        if at_s is None or at_s <= last_s:
            raise ProfileError(source, f"{path}.at", item.get("at"),
                               f"a duration after the previous step ({last_s:g}s), e.g. 10s")
        state = blocks.resolve(item, state, source, f"{path}.", allow_to=False)
        blocks.check(state, source, f"{path}.")
        for end, imp in state.items():
            if imp.layout != base[end].layout:
                raise ProfileError(source, f"{path}.{end[0]}.{end[1]}", ", ".join(imp.set_keys()) or "none",
                                   f"changes the qdisc from {base[end].layout or 'none'} to "
                                   f"{imp.layout or 'none'}; tc qdisc change cannot switch "
                                   "kinds (set the field, even unimpaired, in the base profile)")
        steps.append(Step(at_s, state))
        last_s = at_s
    return tuple(steps)


def parse_profile(raw: object, source: str, name: str, load: Loader | None = None) -> Profile:
    """Validate a loaded YAML document completely; raises ProfileError on the first problem.

    `load` reads the profiles a `clients:` class names (`profile: 4g`)."""
    raw = ProfileError.check_top(raw, _TOP_KEYS, source)
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ProfileError(source, "description", description, "required: one line saying what this models")
    shown = raw.get("name", name)
    if not isinstance(shown, str) or not shown:
        raise ProfileError(source, "name", shown, "a non-empty string")
    ends = blocks.resolve(raw, {}, source, "", allow_to=True)
    blocks.check(ends, source, "")
    destinations = _resolve_destinations(raw, ends, source)
    _check_destinations(destinations, source)
    steps = _parse_steps(raw["steps"], ends, source) if "steps" in raw else ()
    clients = parse_clients(raw["clients"], ends, source, load) if "clients" in raw else None
    if clients and ("edge", "down") in destinations:
        why = "either clients: or edge to: rules (both shape the proxy's edge egress per destination)"
        raise ProfileError(source, "clients", "edge.down.to", why)
    _check_tree_queues(ends, destinations, clients, source)
    return Profile(shown, description.strip(), source, ends, steps, destinations, clients)


def resolve_path(name_or_path: str, profiles_dir: Path = PROFILES_DIR) -> Path:
    """A profile name (`4g`) from `profiles_dir`, or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return candidate
    path = profiles_dir / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(available(profiles_dir)) or "(none found)"
        raise ProfileError(str(profiles_dir), "profile", name_or_path, f"a known profile: {known}")
    return path


def available(profiles_dir: Path = PROFILES_DIR) -> list[str]:
    return sorted(p.stem for p in profiles_dir.glob("*.yaml"))


def load_profile(name_or_path: str, profiles_dir: Path = PROFILES_DIR) -> Profile:
    path = resolve_path(name_or_path, profiles_dir)
    base = path.parent

    def load(name: str) -> Profile:
        if name in available(profiles_dir):
            return load_profile(name, profiles_dir)
        if not (base / name).is_file():
            shipped = ", ".join(available(profiles_dir))
            raise ProfileError(str(path), "profile", name,
                               f"a shipped profile ({shipped}) or a profile file beside this one")
        return load_profile(str(base / name), profiles_dir)

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(path), "(file)", name_or_path, f"a readable file ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(str(path), "(yaml)", str(exc).splitlines()[0], "valid YAML") from exc
    return parse_profile(raw, str(path), path.stem, load)
