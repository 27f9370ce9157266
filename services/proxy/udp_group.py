"""The relay on every address of `--bind`: one `UdpRelay` per client-facing socket (IPv4, IPv6), counted
and stopped as one. A client always talks to one socket, so each relay's session table stays correct;
`/_proxy/stats` shows the sums and the sessions of all of them."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

from .udp_counters import COUNTERS
from .udp_relay import UdpRelay
from .udp_session import Address

PER_SESSION_SHOWN = 100


class RelayGroup:
    """`UdpRelay`s made by `make_relay`, one per socket given to `start`."""

    def __init__(self, make_relay: Callable[[], UdpRelay]) -> None:
        self.make_relay = make_relay
        self.relays: list[UdpRelay] = []

    async def start(self, socks: Sequence[socket.socket]) -> list[Address]:
        """Start a relay on each already bound socket; their addresses, in order."""
        bound = []
        for sock in socks:
            relay = self.make_relay()
            self.relays.append(relay)
            bound.append(await relay.start(sock=sock))
        return bound

    def close(self) -> None:
        for relay in self.relays:
            relay.close()

    def counters(self) -> dict[str, int]:
        """Every relay's totals summed (what a `--udp-workers` process publishes)."""
        each = [relay.counters() for relay in self.relays]
        return {name: sum(int(c[name]) for c in each) for name in COUNTERS}

    def stats(self) -> dict[str, Any]:
        sessions = [row for relay in self.relays for row in relay.stats()["per_session"]]
        return {**self.counters(), "per_session": sessions[:PER_SESSION_SHOWN]}
