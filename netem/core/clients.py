"""Different edge conditions per client replica: `clients: {by: share|index, classes: [...]}` of a profile.

Each class names its share of the replicas (by share) or their numbers (by index), and its edge settings:
a shipped profile's (`profile: 4g`) and/or an `edge:` block. The class's `edge.up` is the replica's own
egress, its `edge.down` the proxy's egress towards that replica (a per-destination leaf). Which replica
gets which class: `netem.core.replicas`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from netem.core import blocks, fields, replicas, units
from netem.core.blocks import NAME, Ends
from netem.core.errors import ProfileError
from netem.core.fields import Impairment, merge

Loader = Callable[[str], Any]  # a profile name or path → its Profile


@dataclass(frozen=True)
class ClientClass:
    """One condition of a client mix: its share (by share) or replica numbers (by index), its edge ends."""

    name: str
    share_pct: float | None
    indices: frozenset[int] | None  # by index; None = the replicas no other class names
    ends: Ends  # edge up (the client's egress) and edge down (the proxy's egress to that client)


@dataclass(frozen=True)
class ClientMix:
    by: str  # share | index
    classes: tuple[ClientClass, ...]


CLASS_KEYS = ("name", "share", "replicas", "profile", "edge")


def _class_ends(item: Mapping[str, object], base: Ends, source: str, path: str, load: Loader | None) -> Ends:
    """A class's edge ends: the profile's own, then the named profile's edge, then the class's edge block."""
    ends = {end: imp for end, imp in base.items() if end[0] == "edge"}
    if "profile" in item:
        if load is None:
            raise ProfileError(source, f"{path}.profile", item["profile"], "a profile file to load it from")
        named = load(str(item["profile"]))
        if named.clients or any(imp.trace or fields.custom_table(imp) for imp in named.ends.values()):
            raise ProfileError(source, f"{path}.profile", item["profile"],
                               "a profile without clients:, trace: or table files (put those in edge:)")
        ends = {end: merge(imp, named.ends[end]) for end, imp in ends.items()}
    if "edge" in item:
        block = blocks.parse_link(item["edge"], source, f"{path}.edge", allow_to=False)
        empty: tuple[Impairment, dict[str, Impairment]] = (Impairment(), {})
        ends = {(link, d): merge(merge(imp, block.get("", empty)[0]), block.get(d, empty)[0])
                for (link, d), imp in ends.items()}
    blocks.check(ends, source, f"{path}.")
    return ends


def _parse_class(item: object, by: str, base: Ends, source: str, path: str,
                 load: Loader | None) -> ClientClass:
    item = ProfileError.check_top(item, CLASS_KEYS, source, path)
    name = item.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ProfileError(source, f"{path}.name", name,
                           "a name for the rows' condition column ([A-Za-z0-9_.-])")
    if ("share" in item and by == "index") or ("replicas" in item and by == "share"):
        wanted = "share" if by == "share" else "replicas"
        raise ProfileError(source, path, dict(item), f"clients are assigned by {by}: give {wanted}")
    share = indices = None
    if by == "share":
        share = units.parse_percent(item.get("share"))
        if share is None or share <= 0:
            raise ProfileError(source, f"{path}.share", item.get("share"), "a share > 0%, e.g. 70%")
    elif "replicas" in item:
        try:
            indices = replicas.parse_indices(str(item["replicas"]))
        except replicas.AssignmentError as exc:
            raise ProfileError(source, f"{path}.replicas", item["replicas"], str(exc)) from exc
    return ClientClass(name, share, indices, _class_ends(item, base, source, path, load))


def parse_clients(raw: object, base: Ends, source: str, load: Loader | None) -> ClientMix:
    """`clients: {by: share|index, classes: [...]}`: checked whole (shares sum to 100 %, names unique)."""
    if not isinstance(raw, Mapping) or set(raw) - {"by", "classes"}:
        raise ProfileError(source, "clients", raw, "a mapping with by (share or index) and classes")
    by = raw.get("by", "share")
    if by not in ("share", "index"):
        raise ProfileError(source, "clients.by", by, "share or index")
    items = raw.get("classes")
    if not isinstance(items, list) or not items:
        raise ProfileError(source, "clients.classes", items, "a list of classes")
    classes = tuple(_parse_class(item, by, base, source, f"clients.classes[{i}]", load)
                    for i, item in enumerate(items))
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise ProfileError(source, "clients.classes", names, "each class name once")
    try:
        if by == "share":
            replicas.check_shares([replicas.ShareClass(c.name, c.share_pct or 0.0) for c in classes])
        else:
            replicas.check_indices([replicas.IndexClass(c.name, c.indices) for c in classes])
    except replicas.AssignmentError as exc:
        raise ProfileError(source, "clients.classes", names, str(exc)) from exc
    return ClientMix(by, classes)


def class_of(mix: ClientMix, index: int) -> ClientClass | None:
    """The class of replica `index` (1-based); None: no class (the profile's own edge settings)."""
    name: str | None
    if mix.by == "share":
        shares = [replicas.ShareClass(c.name, c.share_pct or 0.0) for c in mix.classes]
        name = replicas.by_share(shares, index)
    else:
        name = replicas.by_index([replicas.IndexClass(c.name, c.indices) for c in mix.classes], index)
    return next((c for c in mix.classes if c.name == name), None)
