"""Raw QoS rows (as `client qos --raw` writes them) of a synthetic path with known properties."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from netem.traces.gefit import GeParams
from tests.unit.netem.traces.ge_sim import simulate


def raw_rows(n: int, interval_s: float, up_ms: Callable[[float], float], down_ms: Callable[[float], float],
             jitter_ms: float, loss_up: GeParams | None, loss_down: GeParams | None, seed: int = 1,
             run_id: str = "r1", shared: bool = True,
             noise: Callable[[random.Random], float] | None = None) -> list[dict[str, str]]:
    """`noise`: the testbed's own delay variation, drawn again for each direction of each probe."""
    rng = random.Random(seed)
    extra = noise or (lambda _: 0.0)
    lost_up = simulate(loss_up, n, seed) if loss_up else [False] * n
    lost_down_seq = iter(simulate(loss_down, n, seed + 1) if loss_down else [False] * n)
    rows = []
    count = 0
    for seq in range(n):
        t = seq * interval_s
        up = up_ms(t) + rng.gauss(0, jitter_ms) + extra(rng)
        down = down_ms(t) + rng.gauss(0, jitter_ms) + extra(rng)
        lost_down = False if lost_up[seq] else next(lost_down_seq)
        if not lost_up[seq]:
            count += 1
        received = not (lost_up[seq] or lost_down)
        rows.append({
            "run_id": run_id, "label": "synthetic", "seq": str(seq), "send_offset_s": f"{t:.6f}",
            "send_wall_ns": str(1_700_000_000_000_000_000 + round(t * 1e9)),
            "received": "1" if received else "0",
            "rtt_ms": f"{up + down:.4f}" if received else "",
            "owd_up_ms": f"{up:.4f}" if received and shared else "",
            "owd_down_ms": f"{down:.4f}" if received and shared else "",
            "server_count": str(count) if received else "", "owd_clock": "shared" if shared else "relative",
        })
    return rows


def wave(base_ms: float, swing_ms: float, period_s: float) -> Callable[[float], float]:
    return lambda t: base_ms + swing_ms * math.sin(2 * math.pi * t / period_s)
