"""Parse `tc -s -j qdisc show dev IF` (pure): what is in force, with the kernel's counters."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Root qdiscs an interface has when nobody shaped it (veth in containers: noqueue).
DEFAULT_ROOT_KINDS = ("noqueue", "pfifo_fast", "mq", "fq_codel", "noop", "fq", "pfifo", "cake_default")


class TcShowError(ValueError):
    """The text is not what `tc -s -j qdisc show` prints."""


@dataclass(frozen=True)
class QdiscState:
    kind: str
    handle: str
    root: bool
    options: dict[str, Any] = field(default_factory=dict)
    bytes: int = 0
    packets: int = 0
    drops: int = 0
    overlimits: int = 0
    requeues: int = 0
    backlog: int = 0
    qlen: int = 0
    parent: str = ""

    def is_default(self) -> bool:
        return self.kind in DEFAULT_ROOT_KINDS

    def summary(self) -> dict[str, object]:
        """Flat key=value fields for a log line."""
        fields: dict[str, object] = {"qdisc": self.kind}
        if self.kind == "tbf" and "rate" in self.options:
            fields["rate_bps"] = int(self.options["rate"]) * 8
        if self.kind == "netem":
            fields.update({f"opt_{k}": v for k, v in _flat(self.options).items()})
        fields.update(sent_bytes=self.bytes, sent_packets=self.packets, dropped=self.drops,
                      overlimits=self.overlimits, backlog=self.backlog)
        return fields


def _flat(options: dict[str, Any], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in options.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _int(entry: dict[str, Any], key: str) -> int:
    value = entry.get(key, 0)
    return int(value) if isinstance(value, (int, float)) else 0


def parse_qdiscs(text: str) -> list[QdiscState]:
    try:
        data = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise TcShowError(f"not tc JSON: {exc}") from exc
    if not isinstance(data, list):
        raise TcShowError("tc JSON is not a list")
    states = []
    for entry in data:
        if not isinstance(entry, dict) or "kind" not in entry:
            raise TcShowError(f"qdisc entry without kind: {entry!r}")
        options = entry.get("options")
        states.append(QdiscState(
            kind=str(entry["kind"]), handle=str(entry.get("handle", "")), root=bool(entry.get("root")),
            options=options if isinstance(options, dict) else {}, bytes=_int(entry, "bytes"),
            packets=_int(entry, "packets"), drops=_int(entry, "drops"),
            overlimits=_int(entry, "overlimits"), requeues=_int(entry, "requeues"),
            backlog=_int(entry, "backlog"), qlen=_int(entry, "qlen"), parent=str(entry.get("parent", ""))))
    return states


def root_qdisc(text: str) -> QdiscState | None:
    """The root qdisc of the interface, or None when tc listed none."""
    return next((s for s in parse_qdiscs(text) if s.root), None)


def child(states: list[QdiscState], parent: str) -> QdiscState | None:
    """The qdisc attached under class `parent` (e.g. "1:1"), or None."""
    return next((s for s in states if not s.root and s.parent == parent), None)


@dataclass(frozen=True)
class LinkGso:
    """An interface's segmentation offload limits (`ip -d -j link show`)."""

    gso_max_segs: int
    tso_max_segs: int


def parse_link_gso(text: str) -> LinkGso | None:
    """gso_max_segs and tso_max_segs of the one interface listed; None when iproute2 did not say."""
    try:
        data = json.loads(text or "[]")
    except json.JSONDecodeError:
        return None
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        return None
    entry = data[0]
    gso, tso = entry.get("gso_max_segs"), entry.get("tso_max_segs", entry.get("gso_max_segs"))
    if not isinstance(gso, int) or not isinstance(tso, int):
        return None
    return LinkGso(gso, tso)
