"""Every client setting: a flag, a `CLIENT_*` environment variable and a default (services.common.config)."""

from __future__ import annotations

import math
import socket

from services.client.clocks import parse_separate
from services.common.config import Option, parse_duration_s, parse_size
from services.common.inet import parse_family, split_host_port


def parse_proxy(text: str) -> tuple[str, int] | None:
    """`HOST:PORT` of the HTTP proxy, or none with '', 'none' or 'direct'."""
    if text.strip().lower() in {"", "none", "direct", "off"}:
        return None
    return split_host_port(text, 8080)


def parse_udp_target(text: str) -> tuple[str, int]:
    return split_host_port(text, 9090)


def replica_name(text: str) -> str:
    """The `replica` column: the text given, else the host name (in a container: its short id, as
    `docker ps` shows it, different for every `--scale` replica)."""
    return text.strip() or socket.gethostname()


def parse_count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def parse_tos(text: str) -> int:
    value = int(text, 0)
    if not 0 <= value <= 255:
        raise ValueError("TOS must be 0-255 (DSCP × 4), e.g. 0xb8 for EF")
    return value


MAX_START_AHEAD_S = 3600.0  # a --start-at further ahead than this is a mistake (a time in ms, a typo)


def parse_start_at(text: str) -> float | None:
    """`--start-at`: '' = now, else a wall-clock instant in Unix seconds (`$(( $(date +%s) + 60 ))`)."""
    text = text.strip()
    if not text:
        return None
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError("must be a Unix time in seconds, e.g. $(( $(date +%s) + 60 ))")
    return value


def start_delay_s(start_at: float | None, now: float) -> float:
    """How long to wait before sending: until `start_at` (none when unset or past); more than
    MAX_START_AHEAD_S ahead is refused."""
    if start_at is None or start_at <= now:
        return 0.0
    if start_at - now > MAX_START_AHEAD_S:
        raise ValueError(f"--start-at {start_at:.0f} is {start_at - now:.0f} s ahead (at most "
                         f"{MAX_START_AHEAD_S:.0f}): expected Unix seconds")
    return start_at - now


COMMON = [
    Option("--proxy", "CLIENT_PROXY", "proxy:8080",
           "HTTP proxy HOST:PORT ('none' = direct); a URL on the proxy itself is sent as to a server",
           parse_proxy),
    Option("--url", "CLIENT_URL", "http://proxy:8080/index.html", "default URL of http/load/suite"),
    Option("--target", "CLIENT_UDP_TARGET", "proxy:9090", "UDP echo or relay HOST:PORT for QoS probes",
           parse_udp_target),
    Option("--csv", "CLIENT_CSV", "results/qos_result.csv", "results CSV (one row per test; '' = none)"),
    Option("--label", "CLIENT_LABEL", "", "free text stored in every row (e.g. the experiment name)"),
    Option("--profile", "CLIENT_PROFILE", "", "netem profile in force, stored in every row"),
    Option("--timeout", "CLIENT_TIMEOUT", "10s", "HTTP timeout per request", parse_duration_s),
    Option("--json", "CLIENT_JSON", "false", "print one JSON object per test on stdout", is_switch=True),
    Option("--condition", "CLIENT_CONDITION", "",
           "this client's class in a netem client mix (the start-up step sets it), stored in every row"),
    Option("--replica", "CLIENT_REPLICA", "",
           "name stored in every row's `replica` column ('' = the host name: a container's short id)"),
    Option("--same-clock", "CLIENT_SAME_CLOCK", "auto",
           "client and echo share one clock (true/false/auto = loopback only); stated in every row"),
    Option("--separate-clocks", "CLIENT_SEPARATE_CLOCKS", "relative",
           "one-way delays when the clocks are not shared: relative (minus their minimum) or omitted",
           parse_separate),
    Option("--family", "CLIENT_FAMILY", "auto",
           "address family: auto (the resolver's order: IPv6 first where the OS has it), 4, 6, or both "
           "(each test over IPv4, then IPv6); -4/--ipv4 and -6/--ipv6 are short for 4 and 6",
           parse_family),
]

QOS = [
    Option("--count", "CLIENT_QOS_COUNT", "100", "probes to send (ignored with --duration)", parse_count),
    Option("--duration", "CLIENT_QOS_DURATION", "0", "send for this long instead of --count (e.g. 10s)",
           parse_duration_s),
    Option("--interval", "CLIENT_QOS_INTERVAL", "10ms", "mean gap between probes", parse_duration_s),
    Option("--rate", "CLIENT_QOS_RATE", "", "instead of --interval: 1000pps, 10mbit, 512kbps"),
    Option("--size", "CLIENT_QOS_SIZE", "48", "UDP payload bytes (48-byte header + padding)", parse_size),
    Option("--poisson", "CLIENT_QOS_POISSON", "false", "exponential (Poisson) spacing", is_switch=True),
    Option("--burst", "CLIENT_QOS_BURST", "1", "probes back to back per slot", parse_count),
    Option("--tos", "CLIENT_QOS_TOS", "0", "IP TOS byte (DSCP × 4; 0xb8 = EF)", parse_tos),
    Option("--wait", "CLIENT_QOS_WAIT", "", "wait after the last send (default max(3 × RTT p99, 1s))"),
    Option("--raw", "CLIENT_QOS_RAW", "", "write one row per probe to this CSV"),
    Option("--seed", "CLIENT_QOS_SEED", "", "random seed (Poisson spacing, test id)"),
    Option("--ready-timeout", "CLIENT_READY_TIMEOUT", "10s",
           "retry the first contact this long while services start", parse_duration_s),
    Option("--start-at", "CLIENT_QOS_START_AT", "",
           "send from this wall-clock instant (Unix seconds; '' = now): clients started apart probe together",
           parse_start_at),
]

HTTP = [
    Option("--repeat", "CLIENT_HTTP_REPEAT", "1", "requests in a row", parse_count),
    Option("--cache-bust", "CLIENT_HTTP_CACHE_BUST", "false",
           "add ?qoslab_run=RUN_ID so the first request is a fresh cache key (a true miss)",
           is_switch=True),
]

def parse_rate_rps(text: str) -> float | None:
    """Open-loop request rate: '' = closed loop; `500`, `500rps` or `500/s`."""
    text = text.strip().lower().removesuffix("rps").removesuffix("/s").strip()
    if not text:
        return None
    value = float(text)
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError("rate must be a positive number of requests per second")
    return value


LOAD = [
    Option("--clients", "CLIENT_LOAD_CLIENTS", "5", "concurrent keep-alive connections", parse_count),
    Option("--requests", "CLIENT_LOAD_REQUESTS", "100", "requests in total (ignored with --duration)",
           parse_count),
    Option("--duration", "CLIENT_LOAD_DURATION", "0", "issue requests for this long instead (e.g. 10s)",
           parse_duration_s),
    Option("--rate", "CLIENT_LOAD_RATE", "",
           "open loop: this many requests/s on a schedule, latency from each one's due time", parse_rate_rps),
    Option("--pipeline", "CLIENT_LOAD_PIPELINE", "1", "requests in flight per connection (HTTP pipelining)",
           parse_count),
    Option("--workers", "CLIENT_LOAD_WORKERS", "1",
           "processes sharing the connections (one event loop per core, like wrk's threads)", parse_count),
]

def parse_phase_list(text: str) -> tuple[str, ...]:
    from services.client.responsiveness.phases import parse_phases

    return parse_phases(text)


def parse_flows(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 16:
        raise ValueError("must be 1-16 (draft-ietf-ippm-responsiveness: at most 16 connections)")
    return value


RESP_CORE = [
    Option("--phases", "CLIENT_RESP_PHASES", "idle,download,upload,both",
           "phases in order (crusader-style): idle, download, upload, both", parse_phase_list),
    Option("--idle-time", "CLIENT_RESP_IDLE_TIME", "5s", "length of the idle phase", parse_duration_s),
    Option("--load-time", "CLIENT_RESP_LOAD_TIME", "10s", "length of each loaded phase", parse_duration_s),
    Option("--gap", "CLIENT_RESP_GAP", "3s", "pause between phases (queues drain)", parse_duration_s),
    Option("--window", "CLIENT_RESP_WINDOW", "4s",
           "statistics of a loaded phase from its last WINDOW (the draft: MAD × ID = 4 s)", parse_duration_s),
    Option("--flows-down", "CLIENT_RESP_FLOWS_DOWN", "4", "parallel download connections", parse_flows),
    Option("--flows-up", "CLIENT_RESP_FLOWS_UP", "4", "parallel upload connections", parse_flows),
    Option("--download-url", "CLIENT_RESP_DOWNLOAD_URL", "http://proxy:8080/generated/10MiB.bin",
           "large object the download flows GET over and over"),
    Option("--upload-url", "CLIENT_RESP_UPLOAD_URL", "http://proxy:8080/_server/sink",
           "the server's upload sink the upload flows POST to"),
    Option("--probe-url", "CLIENT_RESP_PROBE_URL", "http://proxy:8080/small.html",
           "small object of the foreign probes (fresh connection each)"),
    Option("--probe-interval", "CLIENT_RESP_PROBE_INTERVAL", "20ms", "gap between UDP probes",
           parse_duration_s),
    Option("--foreign-interval", "CLIENT_RESP_FOREIGN_INTERVAL", "250ms", "gap between foreign probes",
           parse_duration_s),
    Option("--upload-size", "CLIENT_RESP_UPLOAD_SIZE", "32MiB", "Content-Length of each upload request",
           parse_size),
    Option("--udp", "CLIENT_RESP_UDP", "true",
           "UDP probes to --target (--no-udp: latency from HTTP and TCP_INFO only, no grade)",
           is_switch=True),
    Option("--series", "CLIENT_RESP_SERIES", "",
           "save every sample as JSON for `plot` (e.g. results/responsiveness.json)"),
    Option("--seed", "CLIENT_RESP_SEED", "", "random seed (UDP test id)"),
]
RESPONSIVENESS = [
    *RESP_CORE,
    Option("--ready-timeout", "CLIENT_READY_TIMEOUT", "10s",
           "retry the first contact this long while services start", parse_duration_s),
]


def parse_optional_udp_target(text: str) -> tuple[str, int] | None:
    return split_host_port(text, 9000) if text.strip() else None


SUITE = [
    Option("--direct-url", "CLIENT_DIRECT_URL", "",
           "also GET this URL without the proxy (direct mode: compose.direct.yaml)"),
    Option("--direct-target", "CLIENT_DIRECT_UDP_TARGET", "",
           "also probe this UDP echo without the relay (direct mode)", parse_optional_udp_target),
    Option("--cache-bust", "CLIENT_SUITE_CACHE_BUST", "true",
           "add ?qoslab_run=RUN_ID to the miss/hit pair so the first GET is a fresh cache key",
           is_switch=True),
    Option("--suite-count", "CLIENT_SUITE_COUNT", "200", "probes of the suite's UDP burst", parse_count),
    Option("--suite-interval", "CLIENT_SUITE_INTERVAL", "5ms", "gap of the suite's UDP burst",
           parse_duration_s),
    Option("--ready-timeout", "CLIENT_READY_TIMEOUT", "10s",
           "retry the first contact this long while services start", parse_duration_s),
    Option("--clients", "CLIENT_LOAD_CLIENTS", "5", "concurrent clients of the load test", parse_count),
    Option("--requests", "CLIENT_LOAD_REQUESTS", "100", "requests of the load test", parse_count),
    Option("--responsiveness", "CLIENT_SUITE_RESPONSIVENESS", "false",
           "also run the responsiveness test (about 45 s with the default phases)", is_switch=True),
    *RESP_CORE,
]

