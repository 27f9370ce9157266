"""What a profile should do to the client's measurements (pure), and the client's JSON rows.

`expected(ends)` gives the configured RTT, jitter, loss and bottleneck rates along client → proxy →
server; `parse_rows` reads the rows the client prints with `--json`. No I/O: `netem.calibrate` loads
profiles and runs the client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from netem.profile import Ends


@dataclass(frozen=True)
class Expected:
    """Configured end-to-end values for probes client → proxy (UDP relay) → server and back."""

    rtt_ms: float
    jitter_ms: float
    loss_pct: float
    up_rate_bps: int | None
    down_rate_bps: int | None


def expected(ends: Ends) -> Expected:
    delay_us = sum(imp.delay_us or 0 for imp in ends.values())
    jitter_us = sum((imp.jitter_us or 0) ** 2 for imp in ends.values()) ** 0.5
    delivered = 1.0
    for imp in ends.values():
        loss = imp.loss_pct if imp.loss_pct is not None else 0.0
        if imp.gemodel is not None:
            ge = imp.gemodel
            r = ge.r_pct if ge.r_pct is not None else 100.0 - ge.p_pct
            loss = 100.0 * ge.p_pct / (ge.p_pct + r) if ge.p_pct + r else 0.0
        delivered *= 1 - loss / 100.0
    rates: dict[str, list[int]] = {"up": [], "down": []}
    for (_, direction), imp in ends.items():
        if imp.rate_bps:
            rates[direction].append(imp.rate_bps)
    return Expected(rtt_ms=delay_us / 1000.0, jitter_ms=jitter_us / 1000.0,
                    loss_pct=round(100.0 * (1 - delivered), 6),
                    up_rate_bps=min(rates["up"], default=None),
                    down_rate_bps=min(rates["down"], default=None))


def parse_rows(stdout: str) -> list[dict[str, Any]]:
    rows = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            # the client prints {"config": …, "result": {row}}; accept bare rows too
            row = obj.get("result") if isinstance(obj, dict) and isinstance(obj.get("result"), dict) else obj
            if isinstance(row, dict):
                rows.append(row)
    return rows
