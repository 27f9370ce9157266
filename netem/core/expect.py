"""What a profile should do to the client's measurements (pure), and the client's JSON rows.

`expected(ends)` gives the configured RTT, jitter, loss and bottleneck rates along client → proxy →
server; `parse_rows` reads the rows the client prints with `--json`. No I/O: `netem.commands.calibrate` loads
profiles and runs the client.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from netem.core.fields import Impairment
from netem.core.profile import Ends
from netem.core.queue import Queue, target_us

FRAME_B = 1514  # a full Ethernet frame: what a queue of `limit` packets holds each of


@dataclass(frozen=True)
class Expected:
    """Configured end-to-end values for probes client → proxy (UDP relay) → server and back.

    `up` is client → server (client's edge egress, proxy's core egress), `down` the reverse. Loss per
    direction is the chance a packet is lost on one of that direction's ends; `*_inflation` is the
    variance factor of a loss count under Gilbert-Elliott (bursty) loss, 1 for independent loss.
    """

    rtt_ms: float
    jitter_ms: float
    loss_pct: float
    up_rate_bps: int | None
    down_rate_bps: int | None
    owd_up_ms: float = 0.0
    owd_down_ms: float = 0.0
    loss_up_pct: float = 0.0
    loss_down_pct: float = 0.0
    loss_up_inflation: float = 1.0
    loss_down_inflation: float = 1.0


def end_loss(imp: Impairment) -> tuple[float, float]:
    """One end's loss probability (%) and the variance factor of its loss count (Markov chain)."""
    if imp.gemodel is not None:
        ge = imp.gemodel
        r = ge.r_pct if ge.r_pct is not None else 100.0 - ge.p_pct
        loss = 100.0 * ge.p_pct / (ge.p_pct + r) if ge.p_pct + r else 0.0
        rho = 1.0 - (ge.p_pct + r) / 100.0
        return loss, (1 + rho) / (1 - rho) if rho < 1 else math.inf
    return (imp.loss_pct if imp.loss_pct is not None else 0.0), 1.0


def _direction(ends: Ends, direction: str) -> tuple[float, float, float]:
    """(delay ms, loss %, loss variance factor) along one direction's ends."""
    mine = [imp for (_, d), imp in ends.items() if d == direction]
    delivered = math.prod(1 - end_loss(imp)[0] / 100.0 for imp in mine)
    inflation = max((end_loss(imp)[1] for imp in mine), default=1.0)
    return sum(imp.delay_us or 0 for imp in mine) / 1000.0, round(100.0 * (1 - delivered), 6), inflation


def expected(ends: Ends) -> Expected:
    up_ms, up_loss, up_inflation = _direction(ends, "up")
    down_ms, down_loss, down_inflation = _direction(ends, "down")
    jitter_us = sum((imp.jitter_us or 0) ** 2 for imp in ends.values()) ** 0.5
    delivered = (1 - up_loss / 100.0) * (1 - down_loss / 100.0)
    rates: dict[str, list[int]] = {"up": [], "down": []}
    for (_, direction), imp in ends.items():
        if imp.rate_bps:
            rates[direction].append(imp.rate_bps)
    return Expected(rtt_ms=up_ms + down_ms, jitter_ms=jitter_us / 1000.0,
                    loss_pct=round(100.0 * (1 - delivered), 6),
                    up_rate_bps=min(rates["up"], default=None),
                    down_rate_bps=min(rates["down"], default=None),
                    owd_up_ms=up_ms, owd_down_ms=down_ms, loss_up_pct=up_loss, loss_down_pct=down_loss,
                    loss_up_inflation=up_inflation, loss_down_inflation=down_inflation)


def full_queue_ms(limit_packets: int, rate_bps: int) -> float:
    """The delay a full FIFO of `limit` full frames adds in front of `rate`: L · 1514 B · 8 / rate."""
    return limit_packets * FRAME_B * 8 / rate_bps * 1000.0


def aqm_band_ms(queue: Queue, rate_bps: int) -> float:
    """How much an AQM may add to a flow's median latency: 3 × its target plus one frame's serialization
    (codel drops once the standing queue exceeds the target for an interval, RFC 8289 §3); for a FIFO
    the full queue's delay of its default limit."""
    target = target_us(queue)
    if target is None:
        return full_queue_ms(queue.limit or 1000, rate_bps)
    return 3 * target / 1000.0 + FRAME_B * 8 / rate_bps * 1000.0


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
