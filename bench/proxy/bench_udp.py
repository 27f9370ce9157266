"""The UDP relay against nginx's stream module (UDP proxy), both relaying to the same C echo.

    flock /tmp/qoslab-heavy.lock python3 bench/proxy/bench_udp.py [--rounds 5] [--duration 3]
        [--sessions 1] [--window 64] [--pings 20000] [--workers 1] [--cpus 0] [--load-cpus 0]
        [--baseline DIR]

Each round starts the qoslab proxy (`--udp-workers W`) and nginx (`worker_processes W`, `listen … udp
reuseport; proxy_pass` to the echo) one after the other, the order rotated every round, and measures each
(`--baseline DIR` adds the proxy of another checkout, e.g. an older commit's worktree, as qoslab-base):
- **datagrams/s**: the C generator (`udpblast.c blast`) keeps `--window` datagrams in flight on each of
  `--sessions` sessions for `--duration` s; relayed datagrams/s = 2 × round trips/s (each round trip
  crosses the proxy twice);
- **added latency**: a C ping-pong (one datagram in flight, `--pings` of them) through the proxy, minus
  the same ping-pong straight to the echo in the same round, at p50 and p99.
The proxy under test, nginx, the generator and the echo are pinned with `taskset`: the proxy (qoslab or
nginx) to `--cpus`, the generator and echo to `--load-cpus` (default: everything on core 0, so a hop is
the same serial CPU path for both and no idle core has to be woken). Ratios are taken inside each round
and the median over the rounds is printed with every round's figure and the load average, as a Markdown
table. Needs gcc, nginx and libnginx-mod-stream (apt-get install nginx libnginx-mod-stream gcc).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
NGINX_UDP = """load_module {module};
daemon off; worker_processes {workers}; pid {tmp}/nginx.pid; error_log {tmp}/error.log crit;
events {{ worker_connections 4096; }}
stream {{ server {{ listen 127.0.0.1:{port} udp reuseport; proxy_pass 127.0.0.1:{echo};
                   proxy_timeout 30s; }} }}
"""


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpus: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpus, *argv]


def build_udpblast() -> str:
    """Compile the C generator / echo (recvmmsg/sendmmsg) so Python tooling is not what is measured."""
    out = Path(tempfile.mkdtemp(prefix="qoslab-udpblast-")) / "udpblast"
    subprocess.run(["gcc", "-O2", "-o", str(out), str(HERE / "udpblast.c")], check=True, timeout=120)
    return str(out)


def wait_udp(port: int, timeout_s: float = 15.0) -> None:
    """Until a datagram to `port` comes back (the proxy is relaying to the echo)."""
    deadline = time.monotonic() + timeout_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            sock.sendto(b"ready?", ("127.0.0.1", port))
            try:
                if sock.recv(64) == b"ready?":
                    return
            except TimeoutError:
                continue
    raise RuntimeError(f"nothing relays on 127.0.0.1:{port}")


def start_peer(kind: str, args: argparse.Namespace, port: int, echo_port: int) -> subprocess.Popen[bytes]:
    if kind in ("qoslab", "qoslab-base"):
        tree = ROOT if kind == "qoslab" else Path(args.baseline)
        argv = [sys.executable, "-m", "services.proxy", "--bind", "127.0.0.1", "--http-port",
                str(free_port(socket.SOCK_STREAM)), "--udp-port", str(port), "--upstream", "127.0.0.1:9",
                "--upstream-udp", f"127.0.0.1:{echo_port}", "--no-access-log",
                "--udp-workers", str(args.workers)]
        proc = subprocess.Popen(pinned(args.cpus, argv), cwd=tree, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    else:
        tmp = tempfile.mkdtemp(prefix="qoslab-nginx-udp-")
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_UDP.format(module=NGINX_STREAM_MODULE, workers=args.workers, tmp=tmp, port=port,
                                         echo=echo_port))
        proc = subprocess.Popen(pinned(args.cpus, ["nginx", "-c", str(conf), "-p", tmp]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_udp(port)
    return proc


def run_tool(tool: str, args: argparse.Namespace, *argv: str) -> list[float]:
    out = subprocess.run(pinned(args.load_cpus, [tool, *argv]), capture_output=True, text=True, check=True,
                         timeout=300).stdout
    return [float(x) for x in out.split()]


def measure(tool: str, args: argparse.Namespace, port: int) -> dict[str, float]:
    """Ping-pong percentiles (µs) and the relayed rate through whatever listens on `port`."""
    p50, p99, _p90, _p999, _max, lost = run_tool(tool, args, "latency", "127.0.0.1", str(port),
                                                 str(args.pings))
    replies, sent = run_tool(tool, args, "blast", "127.0.0.1", str(port), str(args.duration),
                             str(args.sessions), str(args.window), str(args.size))[:2]
    return {"p50": p50, "p99": p99, "ping_lost": lost, "rate": 2 * replies,
            "loss": max(0.0, 1 - replies / sent) if sent else 1.0}


def rounds(args: argparse.Namespace, tool: str, echo_port: int) -> list[dict[str, dict[str, float]]]:
    results = []
    kinds = ["qoslab", "nginx"] + (["qoslab-base"] if args.baseline else [])
    for index in range(args.rounds):
        shift = index % len(kinds)
        order = kinds[shift:] + kinds[:shift]
        one: dict[str, dict[str, float]] = {"direct": measure(tool, args, echo_port)}
        for kind in order:
            port = free_port()
            proc = start_peer(kind, args, port, echo_port)
            try:
                one[kind] = measure(tool, args, port)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
        load = os.getloadavg()[0]
        one["load"] = {"1min": load}
        results.append(one)
        print(f"  round {index + 1} ({' then '.join(order)}, load {load:.1f}): " + "; ".join(
            f"{k} {v['rate']:.0f}/s p50 {v['p50']:.1f} p99 {v['p99']:.1f} us"
            for k, v in one.items() if k != "load"), file=sys.stderr, flush=True)
    return results


def added(one: dict[str, dict[str, float]], kind: str, q: str) -> float:
    return one[kind][q] - one["direct"][q]


def table(args: argparse.Namespace, results: list[dict[str, dict[str, float]]]) -> str:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    loads = ", ".join(f"{r['load']['1min']:.1f}" for r in results)
    lines = [f"### UDP relay vs nginx stream: {args.sessions} session(s) × {args.window} in flight, "
             f"{args.size}-byte datagrams, {args.workers} worker(s) each, proxy on CPU {args.cpus}, "
             f"generator + echo on CPU {args.load_cpus}; medians of {args.rounds} interleaved rounds "
             f"(load {loads})", "",
             "| what | qoslab (rounds) | nginx (rounds) | ratio qoslab/nginx (rounds) | target |",
             "|---|---|---|---|---|"]

    def row(label: str, ours: list[float], theirs: list[float], ratios: list[float], target: str,
            fmt: str = "{:.0f}") -> None:
        lines.append(f"| {label} | {fmt.format(med(ours))} ({'/'.join(fmt.format(x) for x in ours)}) | "
                     f"{fmt.format(med(theirs))} ({'/'.join(fmt.format(x) for x in theirs)}) | "
                     f"**{med(ratios):.2f}** ({'/'.join(f'{x:.2f}' for x in ratios)}) | {target} |")

    for kind in ("qoslab", "qoslab-base") if args.baseline else ("qoslab",):
        label = "" if kind == "qoslab" else "qoslab-base (before): "
        rates = [r[kind]["rate"] for r in results]
        row(f"{label}relayed datagrams/s", rates, [r["nginx"]["rate"] for r in results],
            [ours / r["nginx"]["rate"] for ours, r in zip(rates, results, strict=True)], "≥ 1.2")
        for q in ("p50", "p99"):
            ours = [added(r, kind, q) for r in results]
            theirs = [added(r, "nginx", q) for r in results]
            ratios = [a / b if b > 0 else float("inf") for a, b in zip(ours, theirs, strict=True)]
            row(f"{label}added latency {q} µs", ours, theirs, ratios, "≤ 1.2", "{:.1f}")
    direct = [r["direct"] for r in results]
    lines.append(f"\ndirect to the echo: ping p50 {med([d['p50'] for d in direct]):.1f} µs, p99 "
                 f"{med([d['p99'] for d in direct]):.1f} µs; blast loss qoslab "
                 f"{100 * med([r['qoslab']['loss'] for r in results]):.3f} %, nginx "
                 f"{100 * med([r['nginx']['loss'] for r in results]):.3f} % (sent − answered, in flight "
                 f"at the end included)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of each blast")
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--window", type=int, default=64, help="datagrams in flight per session")
    parser.add_argument("--size", type=int, default=64, help="datagram payload bytes")
    parser.add_argument("--pings", type=int, default=20000, help="ping-pongs per latency measurement")
    parser.add_argument("--workers", type=int, default=1,
                        help="qoslab --udp-workers = nginx worker_processes")
    parser.add_argument("--baseline", help="another checkout whose proxy also runs in every round, as "
                                           "qoslab-base (before/after figures)")
    parser.add_argument("--cpus", default="0", help="taskset CPU list of the proxy under test")
    parser.add_argument("--load-cpus", default="0", help="taskset CPU list of the generator and the echo")
    args = parser.parse_args(argv)
    missing = [name for name in ("gcc", "nginx", "taskset") if shutil.which(name) is None]
    if missing or not Path(NGINX_STREAM_MODULE).exists():
        print(f"missing {', '.join(missing) or NGINX_STREAM_MODULE}: apt-get install gcc nginx "
              "libnginx-mod-stream util-linux", file=sys.stderr)
        return 1
    tool = build_udpblast()
    echo_port = free_port()
    echo = subprocess.Popen(pinned(args.load_cpus, [tool, "echo", str(echo_port)]))
    try:
        wait_udp(echo_port)
        print(table(args, rounds(args, tool, echo_port)))
    finally:
        echo.terminate()
        echo.wait(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
