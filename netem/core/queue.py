"""The queue of a rate-limited link end (`queue:`): pfifo, fq_codel or cake, where the rate is limited.

An end with a queue becomes a tree (iproute2's own netem + tbf example, plus the queue):

    root 1: netem (delay, loss … — no rate)  →  parent 1:1 handle 2: tbf (rate)  →  parent 2:1 handle 3: QUEUE

- The rate limiter (tbf) dequeues from its child only when it has tokens, so the standing queue forms
  in the child: a FIFO of `limit` packets, or an AQM that keeps it short.
- The root is netem even without a netem field: netem orphans each packet from its socket, so a TCP
  sender on the same host is not held back by TCP Small Queues and the queue fills as it would at a
  router. Under a tbf root a local sender kept only 3–6 packets queued (measured in the VM).
- One wire packet per queued packet: the engine sets the interface's `gso_max_segs` to 1 (restored
  when the queue goes), because with segmentation offload a queued "packet" is a GSO super-packet of
  up to 64 KiB and `limit` stops meaning packets (measured: 2660 B per queued packet on average, and
  346 ms instead of 252 ms behind a 200-packet limit at 10 Mbit/s).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from netem.core import units
from netem.core.errors import ProfileError

KINDS = ("pfifo", "fq_codel", "cake")
MODULES = {"pfifo": "sch_fifo", "fq_codel": "sch_fq_codel", "cake": "sch_cake"}
PFIFO_DEFAULT_LIMIT = 1000  # a Linux interface's txqueuelen: today's default queue
DIFFSERV = ("besteffort", "diffserv3", "diffserv4", "diffserv8", "precedence")
FLOWMODES = ("flowblind", "srchost", "dsthost", "hosts", "flows", "dual-srchost", "dual-dsthost",
             "triple-isolate")
CODEL_TARGET_US = 5000  # fq_codel's and cake's default target (RFC 8290)
ALLOWED = (f"one of {', '.join(KINDS)}, or a mapping with kind and its parameters "
           "(pfifo: limit; fq_codel: limit, target, interval, flows, quantum, ecn; "
           "cake: bandwidth, rtt, diffserv, flowmode, memlimit)")


@dataclass(frozen=True)
class Queue:
    """One end's queue discipline and its parameters (None = the qdisc's own default)."""

    kind: str
    limit: int | None = None          # packets (pfifo, fq_codel)
    target_us: int | None = None      # fq_codel: acceptable standing queue delay
    interval_us: int | None = None    # fq_codel: the window target must hold in
    flows: int | None = None          # fq_codel: flow queues
    quantum: int | None = None        # fq_codel: bytes per round
    ecn: bool | None = None           # fq_codel: mark instead of drop
    bandwidth_bps: int | None = None  # cake: its own shaper (below the link rate to own the queue)
    rtt_us: int | None = None         # cake: the RTT it tunes its AQM for
    diffserv: str | None = None       # cake: tin mode
    flowmode: str | None = None       # cake: what is a flow
    memlimit: int | None = None       # cake: bytes of queue memory


Parser = Callable[[object], Any]


def _int(low: int, high: int) -> Parser:
    def parse(value: object) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        return value if low <= value <= high else None
    return parse


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _one_of(choices: tuple[str, ...]) -> Parser:
    return lambda value: value if isinstance(value, str) and value in choices else None


_PACKETS = (_int(1, 2**31 - 1), "a whole number of packets >= 1")
_TIME = (units.parse_time_us, units.TIME_ALLOWED)
# kind → key → (attribute, parser, what is allowed)
KEYS: dict[str, dict[str, tuple[str, Parser, str]]] = {
    "pfifo": {"limit": ("limit", *_PACKETS)},
    "fq_codel": {"limit": ("limit", *_PACKETS), "target": ("target_us", *_TIME),
                 "interval": ("interval_us", *_TIME),
                 "flows": ("flows", _int(1, 65536), "a number of flow queues, 1-65536"),
                 "quantum": ("quantum", _int(64, 2**20), "bytes per round, 64 or more"),
                 "ecn": ("ecn", _bool, "true or false")},
    "cake": {"bandwidth": ("bandwidth_bps", units.parse_rate_bps, units.RATE_ALLOWED),
             "rtt": ("rtt_us", *_TIME),
             "diffserv": ("diffserv", _one_of(DIFFSERV), f"one of {', '.join(DIFFSERV)}"),
             "flowmode": ("flowmode", _one_of(FLOWMODES), f"one of {', '.join(FLOWMODES)}"),
             "memlimit": ("memlimit", units.parse_size_b, units.SIZE_ALLOWED)},
}


def parse_queue(raw: object, source: str, path: str) -> Queue:
    """`fq_codel` or `{kind: fq_codel, target: 5ms, …}` → Queue; errors name the key and what is allowed."""
    if isinstance(raw, str):
        raw = {"kind": raw}
    if not isinstance(raw, Mapping):
        raise ProfileError(source, path, raw, ALLOWED)
    kind = raw.get("kind")
    if kind not in KEYS:
        raise ProfileError(source, f"{path}.kind", kind, f"one of {', '.join(KINDS)}")
    table = KEYS[str(kind)]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "kind":
            continue
        if key not in table:
            raise ProfileError(source, f"{path}.{key}", value,
                               f"unknown key for {kind}; allowed: {', '.join(['kind', *table])}")
        attr, parse, allowed = table[key]
        parsed = parse(value)
        if parsed is None:
            raise ProfileError(source, f"{path}.{key}", value, allowed)
        values[attr] = parsed
    return Queue(kind=str(kind), **values)


def queue_args(queue: Queue) -> list[str]:
    """The queue qdisc's tc arguments after its kind."""
    if queue.kind == "pfifo":
        return ["limit", str(queue.limit or PFIFO_DEFAULT_LIMIT)]
    args: list[str] = []
    if queue.kind == "fq_codel":
        for word, value in (("limit", queue.limit), ("flows", queue.flows), ("quantum", queue.quantum)):
            if value is not None:
                args += [word, str(value)]
        for word, micros in (("target", queue.target_us), ("interval", queue.interval_us)):
            if micros is not None:
                args += [word, units.format_time(micros)]
        if queue.ecn is not None:
            args.append("ecn" if queue.ecn else "noecn")
        return args
    args += (["bandwidth", units.format_rate(queue.bandwidth_bps)] if queue.bandwidth_bps
             else ["unlimited"])
    if queue.rtt_us is not None:
        args += ["rtt", units.format_time(queue.rtt_us)]
    args += [word for word in (queue.diffserv, queue.flowmode) if word]
    if queue.memlimit is not None:
        args += ["memlimit", str(queue.memlimit)]
    return args


def target_us(queue: Queue) -> int | None:
    """The AQM's delay target (None for a FIFO): fq_codel's `target`, cake's rtt / 20 (5 ms at 100 ms)."""
    if queue.kind == "fq_codel":
        return queue.target_us or CODEL_TARGET_US
    if queue.kind == "cake":
        return queue.rtt_us // 20 if queue.rtt_us else CODEL_TARGET_US
    return None
