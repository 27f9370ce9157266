"""Counters the server keeps, rendered as JSON for `/_server/stats`."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Stats:
    started_wall_s: float
    connections_open: int = 0
    connections_total: int = 0
    requests_total: int = 0
    responses: Counter[int] = field(default_factory=Counter)
    bytes_sent: int = 0
    parse_errors: int = 0
    timeouts_header: int = 0
    timeouts_idle: int = 0
    timeouts_send: int = 0
    internal_errors: int = 0
    uploads: int = 0  # bodies the sink read to the end
    upload_bytes: int = 0  # body bytes the sink read (refused uploads included)
    udp_datagrams: int = 0
    udp_probes: int = 0
    udp_bytes: int = 0
    udp_dropped: int = 0
    udp_errors: int = 0

    def to_json(self, now_wall_s: float) -> bytes:
        data = {
            "uptime_s": round(now_wall_s - self.started_wall_s, 3),
            "http": {
                "connections_open": self.connections_open,
                "connections_total": self.connections_total,
                "requests_total": self.requests_total,
                "responses": {str(code): count for code, count in sorted(self.responses.items())},
                "bytes_sent": self.bytes_sent,
                "parse_errors": self.parse_errors,
                "timeouts_header": self.timeouts_header,
                "timeouts_idle": self.timeouts_idle,
                "timeouts_send": self.timeouts_send,
                "internal_errors": self.internal_errors,
                "uploads": self.uploads,
                "upload_bytes": self.upload_bytes,
            },
            "udp": {
                "datagrams": self.udp_datagrams,
                "probes": self.udp_probes,
                "bytes": self.udp_bytes,
                "dropped": self.udp_dropped,
                "errors": self.udp_errors,
            },
        }
        return (json.dumps(data, indent=1) + "\n").encode()
