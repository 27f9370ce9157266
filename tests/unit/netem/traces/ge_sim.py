"""Loss sequences drawn the way netem's Gilbert-Elliott model draws them (sch_netem.c, loss_gilb_ell)."""

from __future__ import annotations

import random

from netem.traces.gefit import GeParams


def simulate(params: GeParams, n: int, seed: int) -> list[bool]:
    """Each packet is lost with its state's probability, then the state moves (Good→Bad p, Bad→Good r)."""
    rng = random.Random(seed)
    bad = False
    out = []
    for _ in range(n):
        out.append(rng.random() < (params.one_minus_h if bad else params.one_minus_k))
        bad = rng.random() >= params.r if bad else rng.random() < params.p
    return out
