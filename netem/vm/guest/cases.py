"""The fidelity cases: a profile on the edge link, how to measure it, and what it should give (pure).

Probes go client → edge → proxy (UDP relay) → core → server (echo) and back, so an impairment on both
edge ends appears once in each direction: RTT += 2 × delay, RTT delivery = (1 − loss)².
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from netem.vm import checks
from netem.vm.checks import Check
from services.common import inet

Row = Mapping[str, Any]  # the client's JSON result, plus `samples` (per-probe delays)
Verdict = Callable[[str, Row, Row], list[Check]]  # (case name, measured, baseline) → checks

# TCP payload per full frame with timestamps (1448 over IPv4); Ethernet frame on the veth
MSS_B, FRAME_B = inet.tcp_segment_payload_bytes(inet.V4), inet.MTU_B + inet.ETHERNET_HEADER_B
PING_FRAME_B = 56 + 8 + 20 + 14  # ping's default payload + ICMP + IPv4 + Ethernet


@dataclass(frozen=True)
class Case:
    name: str
    edge: dict[str, Any]  # the profile's edge: block
    verdict: Verdict
    qos_args: tuple[str, ...] = ("--count", "1000", "--interval", "10ms")
    http: bool = False  # also download the bulk file through the proxy
    paired: bool = False  # measure the unimpaired baseline again right before (delay checks)
    tool: str = "qos"  # or "ping" (kernel ICMP echo at the proxy: no relay noise; args are ping's)
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def profile(self) -> dict[str, Any]:
        return {"description": self.description or self.name, "edge": self.edge}


def _sent(row: Row) -> int:
    return int(row.get("packets_sent") or 0)


def quantile_delta(m: Row, base: Row, key: str, q: float = 0.5) -> float:
    """Quantile `q` of `key` over the received probes minus the baseline's. A constant delay shifts every
    quantile by itself; low quantiles ignore the stalls a busy TCG host adds to some probes."""
    return checks.quantile(m["samples"][key], q) - checks.quantile(base["samples"][key], q)


FLOOR_Q = 0.1  # for constant delays: p10 − baseline p10


DELAY_MS, JITTER_MS = 100.0, 5.0  # jitter ≪ probe interval: few reorders, no bunching in the relay


def delay_jitter(name: str, m: Row, base: Row) -> list[Check]:
    # ping, so the Python relay (which bunches jittered probes) stays out; medians, since a busy TCG host
    # stalls some packets for 100s of ms in either run
    delta = quantile_delta(m, base, "rtt_ms")
    sd = checks.excess_stddev(checks.robust_sigma(m["samples"]["rtt_ms"]),
                              checks.robust_sigma(base["samples"]["rtt_ms"]))
    # normal jitter σ at each of the two edge ends, independent: RTT σ = √2 · σ
    return [checks.relative(name, "rtt median − baseline", 2 * DELAY_MS, delta, checks.DELAY_REL, "ms"),
            checks.relative(name, "rtt σ (IQR, excess)", math.sqrt(2) * JITTER_MS, sd, checks.JITTER_REL,
                            "ms")]


def random_loss(name: str, m: Row, base: Row) -> list[Check]:
    expected = 100.0 * (1 - (1 - 0.05) ** 2)
    return [checks.binomial(name, "rtt loss", expected, m["loss_pct"], _sent(m))]


GE = {"p": 1.0, "r": 30.0}


def gilbert_elliott(name: str, m: Row, base: Row) -> list[Check]:
    p, r = GE["p"], GE["r"]
    inflate = checks.markov_inflation(p, r)
    return [checks.binomial(name, "loss (π_bad = p/(p+r))", 100 * p / (p + r), m["loss_pct"], _sent(m),
                            inflate, note=f"3σ, Markov var ×{inflate:.2f}, n={_sent(m)}")]


RATE_BPS = 4_000_000
RATE_DELAY_MS = 50.0
BULK_BYTES = 3 * 1024 * 1024  # rate case: HTTP download via the proxy (shown), bulk transfer (checked)


def rate_delay(name: str, m: Row, base: Row) -> list[Check]:
    serialise_ms = PING_FRAME_B * 8 / RATE_BPS * 1e3  # the echo reply, on the shaped down end only
    delta = quantile_delta(m, base, "rtt_ms", FLOOR_Q)
    goodput = RATE_BPS * MSS_B / FRAME_B / 1e6  # TCP payload per frame the shaper counts
    configured = 2 * RATE_DELAY_MS + serialise_ms
    return [checks.relative(name, "rtt p10 − baseline p10", configured, delta, checks.DELAY_REL, "ms"),
            checks.relative(name, "TCP steady rate (down)", goodput, m.get("bulk_mbps", math.nan),
                            checks.RATE_REL, "Mbit/s", note=f"±10%; rate × {MSS_B}/{FRAME_B}")]


UP_MS, DOWN_MS = 100.0, 50.0


def asymmetric(name: str, m: Row, base: Row) -> list[Check]:
    up = quantile_delta(m, base, "owd_up_ms", FLOOR_Q)
    down = quantile_delta(m, base, "owd_down_ms", FLOOR_Q)
    return [checks.relative(name, "one-way up p10 − baseline", UP_MS, up, checks.DELAY_REL, "ms"),
            checks.relative(name, "one-way down p10 − baseline", DOWN_MS, down, checks.DELAY_REL, "ms")]


def duplicate(name: str, m: Row, base: Row) -> list[Check]:
    return [checks.binomial(name, "duplicates", 5.0, m["duplicate_pct"], _sent(m))]


REORDER_PCT = 25.0


def reorder(name: str, m: Row, base: Row) -> list[Check]:
    # a probe sent at once (p) overtakes exactly the previous, delayed one (1 − p): that one arrives late
    p = REORDER_PCT / 100
    return [checks.binomial(name, "reordered (p·(1−p))", 100 * p * (1 - p), m["reordered_pct"], _sent(m))]


CASES = (
    Case("delay+jitter", {"delay": f"{DELAY_MS:g}ms", "jitter": f"{JITTER_MS:g}ms", "distribution": "normal"},
         delay_jitter, ("-c", "1000", "-i", "0.01"), paired=True, tool="ping",
         description=f"{DELAY_MS:g} ms ± {JITTER_MS:g} ms (normal) each way on edge"),
    Case("random loss", {"loss": "5%"}, random_loss, ("--count", "1500", "--interval", "10ms"),
         description="5 % loss each way on edge"),
    Case("gilbert-elliott", {"up": {"gemodel": {"p": "1%", "r": "30%", "1-h": "100%", "1-k": "0%"}}},
         gilbert_elliott, ("--count", "2000", "--interval", "10ms"),
         description="GE p=1 % r=30 % on edge up"),
    Case("rate+delay", {"delay": f"{RATE_DELAY_MS:g}ms", "down": {"rate": f"{RATE_BPS}bit"}}, rate_delay,
         ("-c", "500", "-i", "0.01"), http=True, paired=True, tool="ping",
         description=f"{RATE_DELAY_MS:g} ms each way, {RATE_BPS / 1e6:g} Mbit/s down on edge"),
    Case("asymmetric", {"up": {"delay": f"{UP_MS:g}ms"}, "down": {"delay": f"{DOWN_MS:g}ms"}}, asymmetric,
         ("--count", "500", "--interval", "10ms"), paired=True,
         description=f"edge up {UP_MS:g} ms, down {DOWN_MS:g} ms"),
    Case("duplicate", {"up": {"duplicate": "5%"}}, duplicate, ("--count", "1500", "--interval", "10ms"),
         description="5 % duplicates on edge up"),
    Case("reorder", {"up": {"delay": "9ms", "reorder": f"{REORDER_PCT:g}%"}}, reorder,
         ("--count", "1500", "--interval", "6ms"), description="edge up 9 ms, 25 % sent at once"),
)
BASELINE_ARGS = ("--count", "500", "--interval", "10ms")
WARMUP_ARGS = ("--count", "200", "--interval", "10ms")
