"""A replica's number from its name: a DNS PTR query for its own address, and the answer parsed (pure).

Docker's embedded DNS answers PTR for a container's address with its name: under compose
`PROJECT-client-3.PROJECT_edge` (the third replica of `--scale client=N`), under swarm
`STACK_client.3.TASKID.STACK_edge` (task slot 3). A container learns its replica number this way without
the Docker API; `compose run` containers have no number (`PROJECT-client-run-1a2b…`).
"""

from __future__ import annotations

import ipaddress
import re
import struct

QTYPE_PTR = 12
_COMPOSE = re.compile(r"^[^.]*-(\d+)$")
_SWARM = re.compile(r"^[^.]+\.(\d+)\.[a-z0-9]+$")


def reverse_name(address: str) -> str:
    return ipaddress.ip_address(address).reverse_pointer


def ptr_query(query_id: int, address: str) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in reverse_name(address).split("."))
    header = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0)  # recursion desired, one question
    return header + labels + b"\0" + struct.pack(">HH", QTYPE_PTR, 1)


def _name(data: bytes, offset: int, depth: int = 0) -> tuple[str, int]:
    """A (possibly compressed) domain name at `offset` → (name, offset after it)."""
    labels: list[str] = []
    while True:
        if offset >= len(data) or depth > 10:
            raise ValueError("truncated DNS name")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            pointer = struct.unpack_from(">H", data, offset)[0] & 0x3FFF
            rest, _ = _name(data, pointer, depth + 1)
            return ".".join([*labels, rest]) if rest else ".".join(labels), offset + 2
        offset += 1
        if length == 0:
            return ".".join(labels), offset
        labels.append(data[offset:offset + length].decode("ascii", "replace"))
        offset += length


def ptr_answer(data: bytes, query_id: int) -> str | None:
    """The first PTR name in a response to `query_id`; None when there is none."""
    if len(data) < 12:
        return None
    ident, flags, questions, answers = struct.unpack_from(">HHHH", data)
    if ident != query_id or not flags & 0x8000 or flags & 0x000F:
        return None
    offset = 12
    for _ in range(questions):
        offset = _name(data, offset)[1] + 4
    for _ in range(answers):
        offset = _name(data, offset)[1]
        kind, _, _, length = struct.unpack_from(">HHIH", data, offset)
        offset += 10
        if kind == QTYPE_PTR:
            return _name(data, offset)[0]
        offset += length
    return None


def replica_number(name: str) -> int | None:
    """3 from `proj-client-3.proj_edge` (compose) or `stack_client.3.x1y2z3.stack_edge` (swarm)."""
    first = name.split(".")[0]
    match = None if "-run-" in first else _COMPOSE.match(first)  # `compose run` containers: no number
    if match:
        return int(match.group(1))
    match = _SWARM.match(".".join(name.split(".")[:3]))
    return int(match.group(1)) if match else None
