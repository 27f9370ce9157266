"""Queues and AQM end to end: the cases, what each should give, and the checks (pure).

Three states of the edge link (both ends: 10 ms each way, 10 Mbit/s), each measured the same way:
- `short`: a 10-packet FIFO — the reference: the same rate, so the same CPU load on the emulated
  services, and a queue of at most 12 ms; what it adds beyond that is the path's own load effect
  (the Python relay and echo under emulation), taken out of the others;
- `fifo`: a 300-packet FIFO — full, it adds 300 × 1514 B × 8 / 10 Mbit/s = 363 ms;
- `fq_codel`: fq_codel (target 5 ms, interval 100 ms).
Per case: `client responsiveness --phases idle,download` (4 download flows), then irtt and the client's
`qos` probing the proxy's address side by side, each to a one-hop echo there (irtt's server, the qoslab
server's UDP echo), idle and then while iperf3 (`-R -P 4`) loads the same link; the two tools' samples
are compared over the same wall-clock windows.

Checks (`verdicts`), every one against a reference from the same run:
1. queue — (a) the formula: the FIFO at its fullest, its largest backlog in bytes × 8 / rate over the
   responsiveness run, is within ±15 % of L · 1514 · 8 / rate (363 ms for 300 packets: one frame per
   packet, segmentation offload off; a limit not in force, the default 1000, or GSO super-packets
   overshoot it). The backlog is the kernel's own counter, sampled with a netlink dump every 50 ms
   (`guest/backlog.py`). Measured: 335–338 ms, 92–93 % (the segments average ~1,400 B, not all full).
   The ±15 % is the formula's own (the issue's); the limit itself is held tighter: the most packets
   the queue held within ±5 % of L (298–299 of 300 measured), so a limit 10 % off fails.
   (b) the client: its latency increase at p90 (loaded p90 − idle p50) minus the short FIFO's is within
   ±5 % of what the queue held at p90 over the download phase's measured window, less the short
   FIFO's (they agreed within 0.4–0.7 % in three VM runs: a reading 10 % off fails). Not of the
   formula itself: how full TCP keeps a FIFO is TCP's doing, and under TCG it ranged 74–98 % of it at
   p90 across runs (irtt and the client both read 290 ms where the formula says 351 in one CI run), so
   a client check against the formula tested the emulator's TCP.
2. fq_codel band — its increase at p50, minus the path's own load effect, ≤ 3 × target + one frame's
   serialization time (codel keeps each flow's standing queue near the target). The UDP probes are a
   sparse flow, which fq_codel serves ahead of the bulk flows' queues, so this bounds what a sparse flow
   sees (a FIFO: ≈300 ms against 16.2); it does not resolve the target itself (target 20 ms read 5.7 ms).
3. grade — fifo D or F, fq_codel A or A+.
4. RPM — fq_codel's loaded RPM ≥ 5 × the fifo's.
5. iperf3 — the client's download throughput within ±10 % of iperf3's on the same link.
6. irtt — the client's UDP RTT increases (p50/p90/p99 under iperf3's load minus its own idle p50)
   within ±10 % (at least ±2 ms) of irtt's, over the same windows, after taking out the two tools' offset
   on the short FIFO in the same run (ours minus irtt's, signed, per percentile): there the queue is at
   most 12 ms for both, so what differs is what the load on the CPU adds to each tool's probes. Quiet,
   that is under 1 ms; with the host's cores busy the Python probes' tail grows more than irtt's (Go) in
   every case alike (measured: fq_codel p90 14.8 vs 7.6 ms) — the CPU, not the queue. The band itself
   is not widened: an offset in the other direction, or one that differs between the cases, fails.
   Under TCG (`emulated`: the VM's accelerator, QOSLAB_VM_ACCEL_USED in the guest) fq_codel's p90/p99
   are not compared with irtt's: fq_codel serves the probes as a sparse flow, so its queue adds about
   1 ms and those tails are the emulator's stalls, which the two tools sample at different instants and
   stamp differently (ours in the kernel, irtt's client in user space). Measured on a busy 2-core host:
   irtt's own p90 increase 0.2–50 ms across runs of the same queue, the tools' p99 5–17 ms apart in one
   window, either way (docs/netem.md, "Queues in the VM"). There both tools' fq_codel p90/p99 must stay
   under a third of the FIFO's queue instead (what fq_codel does to a sparse flow's tail, which a FIFO
   in its place fails by far), and the figures against irtt are shown in the note. Under KVM and
   natively the ±10 % / ±2 ms comparison holds for every percentile.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netem.core import tc
from netem.core.expect import aqm_band_ms, full_queue_ms
from netem.core.queue import Queue
from netem.traces.netlink import QueueStats
from netem.vm import checks
from netem.vm.channel import ACCEL_USED_ENV, BLOAT
from netem.vm.checks import Check

RESULT_MARKER = "QOSLAB-BLOAT-RESULT "  # the guest's last line: the checks as JSON
RATE_BPS = 10_000_000
DELAY = "10ms"
FIFO_LIMIT, SHORT_LIMIT = 300, 10
FORMULA_REL = 0.15
QUEUE_READ_REL = 0.05  # the client against the queue's backlog: they agreed within 0.4–0.7 % in the VM
LIMIT_REL = 0.05  # the most packets queued against the limit: 298–299 of 300 in the VM
THROUGHPUT_REL = 0.10
IRTT_REL, IRTT_FLOOR_MS = 0.10, 2.0
RPM_RATIO = 5.0
PERCENTILES = (50, 90, 99)
EMULATED_TAILS = (90, 99)  # fq_codel's percentiles that are the emulator's stalls under TCG
AQM_TAIL_SHARE = 1 / 3  # under TCG: fq_codel's tails (both tools) under this share of the FIFO's queue


@dataclass(frozen=True)
class Case:
    name: str
    queue: dict[str, Any] | None  # the profile's queue: block; None = nothing applied

    def profile(self) -> dict[str, Any] | None:
        if self.queue is None:
            return None
        return {"description": f"bloat case {self.name}",
                "edge": {"delay": DELAY, "rate": "10mbit", "queue": self.queue}}


CASES = (Case("short", {"kind": "pfifo", "limit": SHORT_LIMIT}),
         Case("fifo", {"kind": "pfifo", "limit": FIFO_LIMIT}),
         Case("fq_codel", {"kind": "fq_codel", "target": "5ms", "interval": "100ms"}))
COMPARED = ("short", "fifo", "fq_codel")  # the cases iperf3 and irtt run on (short: the tools' reference)
CHECKED = ("fifo", "fq_codel")  # the cases compared with iperf3 and irtt
FQ_CODEL = Queue("fq_codel", target_us=5000, interval_us=100_000)
QUEUE_CASES = ("short", "fifo")  # the cases whose queue the backlog sampler reads


def _class_id(text: str) -> int:
    major, minor = text.split(":")
    return int(major or "0", 16) << 16 | int(minor or "0", 16)


SHAPER_PARENT_ID = _class_id(tc.SHAPER_PARENT)


def queue_leaf(stats: Sequence[QueueStats], ifindex: int) -> QueueStats | None:
    """The queue of a queue tree on interface `ifindex` (the qdisc under the shaper), if there is one."""
    return next((q for q in stats if q.ifindex == ifindex and q.parent == SHAPER_PARENT_ID), None)


def download_window(series: Mapping[str, Any]) -> tuple[int, int]:
    """The wall-clock ns span the responsiveness run measured its download phase over (its saved series)."""
    phase = next(p for p in series["phases"] if p["name"] == "download")
    start = int(series["start_wall_ns"])
    return start + int(phase["window_start_s"] * 1e9), start + int(phase["end_s"] * 1e9)


def queue_held(samples: Sequence[Sequence[int]], window: tuple[int, int],
               rate_bps: int = RATE_BPS) -> dict[str, Any]:
    """The sampler's `[wall ns, packets, bytes]` lines → the queue's delay per sample inside `window` (ms:
    the bytes ahead of a packet arriving then, at the shaper's rate), and over the whole run the fullest
    it got (ms) and the most packets it held."""
    inside = [s for s in samples if window[0] <= s[0] < window[1]]
    ms_per_byte = 8 / rate_bps * 1000
    return {"delays_ms": [s[2] * ms_per_byte for s in inside],
            "fullest_ms": max((s[2] * ms_per_byte for s in samples), default=math.nan),
            "max_packets": max((s[1] for s in samples), default=0)}


def percentile(values: Sequence[float], q: float) -> float:
    return checks.quantile(values, q / 100.0)


def increases(loaded: Sequence[float], idle: Sequence[float]) -> dict[int, float]:
    """Loaded p50/p90/p99 minus the idle median (ms): the queue's share of each percentile."""
    base = percentile(idle, 50)
    return {q: percentile(loaded, q) - base for q in PERCENTILES}


def _phase(rows: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    return next((r for r in rows if r.get("phase") == name), {})


def _number(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key)
    return float(value) if isinstance(value, int | float) else math.nan


def resp_increase(rows: Sequence[Mapping[str, Any]], stat: str) -> float:
    """The download phase's RTT `stat` (median, p90) minus the idle median, from the client's rows."""
    loaded = _number(_phase(rows, "download"), f"rtt_{stat}_ms")
    return loaded - _number(_phase(rows, "idle"), "rtt_median_ms")


def emulated(environ: Mapping[str, str]) -> bool:
    """Whether the suite runs in a guest under TCG (the host says so in ACCEL_USED_ENV)."""
    return environ.get(ACCEL_USED_ENV, "").strip().lower() == "tcg"


def verdicts(found: Mapping[str, Mapping[str, Any]], limit: int = FIFO_LIMIT,
             emulated: bool = False) -> list[Check]:
    """`found[case]`: {"resp": client rows, "iperf3_bps": …, "irtt": {"idle": […], "loaded": […]},
    "qos": {"idle": […], "loaded": […]}} → the checks of the module docstring; `emulated`: under TCG."""
    short, fifo, fq = found["short"]["resp"], found["fifo"]["resp"], found["fq_codel"]["resp"]
    own = max(resp_increase(short, "median") - full_queue_ms(SHORT_LIMIT, RATE_BPS), 0.0)
    out = [*queue_checks(found, limit),
           Check("fq_codel", "increase p50 − load effect (≤ 3·target + frame)", 0.0,
                 resp_increase(fq, "median") - own, aqm_band_ms(FQ_CODEL, RATE_BPS), "ms",
                 f"upper only; load effect {own:.1f} ms", upper_only=True)]
    out += [_grade("fifo", fifo, ("D", "F")), _grade("fq_codel", fq, ("A", "A+"))]
    fifo_rpm, fq_rpm = _number(_phase(fifo, "download"), "rpm"), _number(_phase(fq, "download"), "rpm")
    out.append(checks.at_least("fq_codel", "loaded RPM / fifo's", RPM_RATIO, fq_rpm / fifo_rpm, 1.0, "×",
                               f"fifo {fifo_rpm:.0f} RPM, fq_codel {fq_rpm:.0f} RPM"))
    offsets = tool_offsets(found["short"])
    for name in CHECKED:
        stalls = EMULATED_TAILS if emulated and name == "fq_codel" else ()
        out += comparisons(name, found[name], offsets, skip=stalls)
    if emulated:
        out += aqm_tails(found["fq_codel"], offsets, full_queue_ms(limit - SHORT_LIMIT, RATE_BPS))
    return out


def queue_checks(found: Mapping[str, Mapping[str, Any]], limit: int) -> list[Check]:
    """Check 1: the queue at its fullest against the formula, the most packets it held against its limit,
    and the client's p90 increase (fifo less short) against what the queue held at p90 (the same)."""
    queue = found["fifo"]["queue"]
    held = {name: percentile(found[name]["queue"]["delays_ms"], 90) for name in QUEUE_CASES}
    reference = held["fifo"] - held["short"]
    full = full_queue_ms(limit, RATE_BPS)
    measured = resp_increase(found["fifo"]["resp"], "p90") - resp_increase(found["short"]["resp"], "p90")
    return [checks.relative("fifo", "fullest queue (max backlog · 8/rate) vs L·1514·8/rate", full,
                            queue["fullest_ms"], FORMULA_REL, "ms"),
            checks.relative("fifo", "most packets queued vs the limit L", float(limit),
                            float(queue["max_packets"]), LIMIT_REL, "packets"),
            checks.relative("fifo", "increase p90 − short's, vs the queue's backlog (p90 · 8/rate)",
                            reference, measured, QUEUE_READ_REL, "ms",
                            f"±{QUEUE_READ_REL:.0%}; {len(queue['delays_ms'])} samples; the queue held "
                            f"{held['fifo']:.1f} ms (short {held['short']:.1f}), "
                            f"{reference / full:.0%} of full")]


def aqm_tails(found: Mapping[str, Any], offsets: Mapping[int, float], fifo_ms: float) -> list[Check]:
    """Under TCG: fq_codel's p90/p99 increases, ours (less the short FIFO's offset) and irtt's, each under
    AQM_TAIL_SHARE of the FIFO's queue; how far apart the two tools read is shown, not asserted."""
    theirs = increases(found["irtt"]["loaded"], found["irtt"]["idle"])
    mine = increases(found["qos"]["loaded"], found["qos"]["idle"])
    return [Check("fq_codel", f"RTT increase p{q}, ours and irtt's (≤ ⅓ of the fifo's queue)", 0.0,
                  max(mine[q] - offsets[q], theirs[q]), AQM_TAIL_SHARE * fifo_ms, "ms",
                  f"TCG: the emulator's stalls, not compared with irtt; ours {mine[q] - offsets[q]:.2f} "
                  f"(offset {offsets[q]:+.2f}), irtt {theirs[q]:.2f}", upper_only=True)
            for q in EMULATED_TAILS]


def _grade(case: str, rows: Sequence[Mapping[str, Any]], allowed: tuple[str, ...]) -> Check:
    grade = str(_phase(rows, "download").get("bufferbloat_grade") or "")
    return Check(case, f"grade in {'/'.join(allowed)}", 1.0, 1.0 if grade in allowed else 0.0, 0.0, "",
                 f"measured {grade or '-'}")


def tool_offsets(found: Mapping[str, Any]) -> dict[int, float]:
    """The client's UDP RTT increases minus irtt's (ms, signed) per percentile, in one case."""
    theirs = increases(found["irtt"]["loaded"], found["irtt"]["idle"])
    mine = increases(found["qos"]["loaded"], found["qos"]["idle"])
    return {q: mine[q] - theirs[q] for q in PERCENTILES}


def comparisons(case: str, found: Mapping[str, Any], offsets: Mapping[int, float],
                skip: Sequence[int] = ()) -> list[Check]:
    """Throughput against iperf3, RTT increases against irtt (same case, same link). `offsets`: ours minus
    irtt's on the short FIFO in the same run (`tool_offsets`), subtracted from ours before the ±10 %
    (≥ ±2 ms) band: the reference for what the CPU load adds to each tool alike."""
    ours = _number(_phase(found["resp"], "download"), "throughput_down_bps") / 1e6
    out = [checks.relative(case, "download Mbit/s vs iperf3", found["iperf3_bps"] / 1e6, ours,
                           THROUGHPUT_REL, "Mbit/s")]
    theirs = increases(found["irtt"]["loaded"], found["irtt"]["idle"])
    mine = increases(found["qos"]["loaded"], found["qos"]["idle"])
    for q in (q for q in PERCENTILES if q not in skip):
        tolerance = max(IRTT_REL * abs(theirs[q]), IRTT_FLOOR_MS)
        out.append(Check(case, f"RTT increase p{q} vs irtt", theirs[q], mine[q] - offsets[q], tolerance,
                         "ms", f"±{IRTT_REL:.0%}, ≥ ±{IRTT_FLOOR_MS:g} ms; ours {mine[q]:.2f} − short's "
                         f"offset {offsets[q]:+.2f}"))
    return out


def problems(console: str, exit_code: int) -> str:
    """What went wrong in a run of the suite, read from its output ("" when every case reported and every
    check passed): the checks after RESULT_MARKER, the rows per case behind `channel.BLOAT`."""
    lines = [line for line in console.splitlines() if line.startswith(RESULT_MARKER)]
    if not lines:
        return f"no result line (exit {exit_code}):\n{console[-5000:]}"
    rows, count = BLOAT.parse(console)
    if not count == len(rows) == len(CASES):
        return f"{len(rows)} of {count} case rows read, {len(CASES)} cases"
    failed = [c for c in json.loads(lines[-1][len(RESULT_MARKER):]) if not c["ok"]]
    if failed or exit_code != 0:
        table = console[console.find("| case |"):console.find(RESULT_MARKER)]
        return f"exit {exit_code}; failed: {failed}\n{table}"
    return ""
