"""Settings blocks of a profile: `LINK`/`all` with `up:`/`down:` and `to: {DEST: …}`, resolved per end.

Resolution per end: all < all.DIR < LINK < LINK.DIR, field by field (each later block overrides the fields
it sets). Shared by profiles, their steps and the classes of a client mix.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from netem import topology
from netem.core import rules
from netem.core.errors import ProfileError
from netem.core.fields import Impairment, merge, parse_impairment

LINKS = tuple(link.name for link in topology.LINKS)  # edge, core
DIRECTIONS = ("up", "down")
LINK_KEYS = ("all", *LINKS)
TO = "to"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

End = tuple[str, str]  # (link, direction)
Ends = dict[End, Impairment]


Block = dict[str, tuple[Impairment, dict[str, Impairment]]]  # "" | up | down → (settings, to: …)


def check_destination(dest: object, source: str, path: str) -> str:
    """A `to:` key: an address, a CIDR or a service name (names are matched to containers when applied)."""
    text = str(dest).strip()
    try:
        ipaddress.ip_network(text, strict=False)
        return text
    except ValueError:
        pass
    if not isinstance(dest, str) or not NAME.fullmatch(text):
        raise ProfileError(source, f"{path}.{dest}", dest, "a service name or an IP address / CIDR")
    return text


def parse_settings(raw: Mapping[str, object], source: str, path: str,
                    allow_to: bool) -> tuple[Impairment, dict[str, Impairment]]:
    settings = {k: v for k, v in raw.items() if k not in (*DIRECTIONS, TO)}
    dests: dict[str, Impairment] = {}
    if TO in raw:
        block = raw[TO]
        if not allow_to:
            raise ProfileError(source, f"{path}.{TO}", block, "to: is not allowed here (steps, clients)")
        if not isinstance(block, Mapping) or not block:
            raise ProfileError(source, f"{path}.{TO}", block, "a mapping DESTINATION: {settings}")
        for dest, values in block.items():
            name = check_destination(dest, source, f"{path}.{TO}")
            if not isinstance(values, Mapping):
                raise ProfileError(source, f"{path}.{TO}.{name}", values, "a mapping of settings")
            dests[name] = parse_impairment(values, source, f"{path}.{TO}.{name}")
    return parse_impairment(settings, source, path), dests


def parse_link(raw: object, source: str, path: str, allow_to: bool = True) -> Block:
    """→ {"": (common, to), "up": …, "down": …}."""
    if not isinstance(raw, Mapping):
        raise ProfileError(source, path, raw, "a mapping of settings, optionally with up:/down:/to:")
    parsed = {"": parse_settings(raw, source, path, allow_to)}
    for direction in DIRECTIONS:
        block = raw.get(direction)
        if block is not None:
            if not isinstance(block, Mapping):
                raise ProfileError(source, f"{path}.{direction}", block, "a mapping of settings")
            parsed[direction] = parse_settings(block, source, f"{path}.{direction}", allow_to)
    return parsed


def parse_blocks(raw: Mapping[str, object], source: str, prefix: str,
                 allow_to: bool = True) -> dict[str, Block]:
    return {name: parse_link(raw[name], source, prefix + name, allow_to)
            for name in LINK_KEYS if name in raw}


def resolve(raw: Mapping[str, object], base: Ends, source: str, prefix: str, allow_to: bool = False) -> Ends:
    blocks = parse_blocks(raw, source, prefix, allow_to)
    empty = Impairment()
    ends: Ends = {}
    for link in LINKS:
        for direction in DIRECTIONS:
            imp = base.get((link, direction), empty)
            for name in ("all", link):
                block = blocks.get(name, {})
                imp = merge(merge(imp, block.get("", (empty, {}))[0]), block.get(direction, (empty, {}))[0])
            ends[(link, direction)] = imp
    return ends


def check(ends: Ends, source: str, prefix: str) -> None:
    for (link, direction), imp in ends.items():
        for bad in rules.violations(imp):
            raise ProfileError(source, f"{prefix}{link}.{direction}.{bad.key}", bad.value, bad.message)
