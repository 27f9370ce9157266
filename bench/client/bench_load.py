"""Benchmark `python -m services.client load` against wrk, and show coordinated omission.

    flock /tmp/qoslab-heavy.lock python3 bench/client/bench_load.py [--rounds 3] [--duration 5]
                                                                     [--connections 64] [--server-workers 1]

Part 1, closed loop: the same target (the qoslab server, and nginx as a target that is not the
bottleneck), the same connection count and duration for wrk (`-t2`) and for `load --workers 2`, rounds
interleaved (wrk, ours, wrk, ours …); medians of the rounds: req/s, the ratio ours / wrk, latency
percentiles, and the load generator's own CPU per request (user + system of the child, from getrusage).
Part 2, coordinated omission: an origin that answers after 2 ms and pauses once for 500 ms
(tests/integration/client/slow_origin.py); `load` open loop at 400 req/s (corrected and uncorrected
percentiles) and closed loop, and wrk (closed loop) on the same origin.
Needs wrk and nginx (apt-get install wrk nginx). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ORIGIN = REPO / "tests" / "integration" / "client" / "slow_origin.py"
PATH = "/small.html"
NGINX_CONF = """daemon off; worker_processes {workers}; pid {tmp}/nginx.pid; error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 1000000; client_body_temp_path {tmp}/b; proxy_temp_path {tmp}/p;
  fastcgi_temp_path {tmp}/f; uwsgi_temp_path {tmp}/u; scgi_temp_path {tmp}/s; default_type text/html;
  server {{ listen 127.0.0.1:{port}; root {root}; }} }}
"""
_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
QS = ("50", "90", "99")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


CPUS = {"servers": "", "load": ""}  # --cpus / --load-cpus: taskset CPU lists (empty: anywhere)


def pinned(role: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", CPUS[role], *argv] if CPUS[role] else argv


def start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(pinned("servers", argv), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(url: str, connections: int, duration_s: float) -> dict[str, float]:
    threads = min(2, connections)
    before = children_cpu_s()
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(duration_s)}s", "--latency", "--timeout",
            "5s", url]
    out = subprocess.run(pinned("load", argv), capture_output=True, text=True, timeout=duration_s + 60).stdout
    cpu = children_cpu_s() - before
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not rps or not total:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    result = {"req_s": float(rps.group(1)), "cpu_us": cpu / max(1, int(total.group(1))) * 1e6}
    for q in QS:
        found = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        result[f"p{q}_ms"] = float(found.group(1)) * _UNIT_MS[found.group(2)] if found else float("nan")
    found = re.search(r"Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s)", out)
    result["max_ms"] = float(found.group(1)) * _UNIT_MS[found.group(2)] if found else float("nan")
    return result


def ours(url: str, connections: int, duration_s: float, *extra: str) -> dict[str, float]:
    before = children_cpu_s()
    argv = [sys.executable, "-m", "services.client", "load", url, "--proxy", "none", "--clients",
            str(connections), "--duration", f"{duration_s}s", "--csv", "", "--json", *extra]
    done = subprocess.run(pinned("load", argv), cwd=REPO, capture_output=True, text=True,
                          timeout=duration_s + 120)
    cpu = children_cpu_s() - before
    if not done.stdout.strip():
        raise RuntimeError(f"load printed nothing (exit {done.returncode}):\n{done.stderr[-2000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])["result"]
    result = {"req_s": float(row["req_per_s"] or 0), "cpu_us": cpu / max(1, row["requests_ok"]) * 1e6,
              "errors": float(row["errors"])}
    for key in ("median", "p90", "p99", "p999", "max"):
        result[f"{key}_ms"] = float(row[f"latency_{key}_ms"] or "nan")
        if row.get(f"latency_uncorrected_{key}_ms") is not None:
            result[f"unc_{key}_ms"] = float(row[f"latency_uncorrected_{key}_ms"])
    result["p50_ms"] = result["median_ms"]
    return result


def _ours_workers(args: argparse.Namespace, workers: int, url: str) -> dict[str, float]:
    return ours(url, args.connections, args.duration, "--workers", str(workers))


def medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def closed_loop(args: argparse.Namespace, targets: dict[str, str]) -> None:
    print(f"\n### Closed loop: {args.connections} connections, {args.duration} s, "
          f"medians of {args.rounds} interleaved rounds (load {os.getloadavg()[0]:.1f})\n")
    print("| target | tool | req/s | ours / wrk | p50 ms | p90 ms | p99 ms | max ms | CPU µs/req |")
    print("|---|---|---|---|---|---|---|---|---|")
    tools: dict[str, Callable[[str], dict[str, float]]] = {
        "wrk -t2": lambda url: wrk(url, args.connections, args.duration)}
    for count in (int(w) for w in str(args.load_workers).split(",")):
        tools[f"load --workers {count}"] = functools.partial(_ours_workers, args, count)
    for name, url in targets.items():
        samples: dict[str, list[dict[str, float]]] = {tool: [] for tool in tools}
        for _ in range(args.rounds):
            for tool, run in tools.items():
                samples[tool].append(run(url))
        wrk_rps = medians(samples["wrk -t2"])["req_s"]
        for tool in tools:
            m = medians(samples[tool])
            ratio = f"{m['req_s'] / wrk_rps:.2f}" if tool.startswith("load") else "1"
            rounds = "/".join(f"{s['req_s']:.0f}" for s in samples[tool])
            print(f"| {name} | {tool} | {m['req_s']:.0f} ({rounds}) | {ratio} | {m['p50_ms']:.2f} | "
                  f"{m['p90_ms']:.2f} | {m['p99_ms']:.2f} | {m['max_ms']:.1f} | {m['cpu_us']:.0f} |")


def omission() -> None:
    print(f"\n### Coordinated omission: origin answers after 2 ms, one 500 ms pause at its request 400; "
          f"4 connections, 3 s (load {os.getloadavg()[0]:.1f})\n")
    print("| run | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |")
    print("|---|---|---|---|---|---|")
    keys = ("median", "p90", "p99", "p999", "max")
    for tool in ("open", "closed", "wrk"):
        port = free_port()
        proc = subprocess.Popen([sys.executable, str(ORIGIN), "--delay-ms", "2", "--stall-at", "400",
                                 "--stall-ms", "500", "--port", str(port)], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}{PATH}"
        lines: list[tuple[str, list[float]]] = []
        try:
            wait_port(port)
            if tool == "open":
                row = ours(url, 4, 3, "--rate", "400")
                lines.append(("load --rate 400: corrected", [row[f"{k}_ms"] for k in keys]))
                lines.append(("load --rate 400: uncorrected", [row[f"unc_{k}_ms"] for k in keys]))
            elif tool == "closed":
                row = ours(url, 4, 3)
                lines.append(("load, closed loop", [row[f"{k}_ms"] for k in keys]))
            else:
                row = wrk(url, 4, 3)
                lines.append(("wrk -t2 -c4 (closed loop)",
                              [row["p50_ms"], row["p90_ms"], row["p99_ms"], float("nan"), row["max_ms"]]))
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=10)
        for name, values in lines:
            print(f"| {name} | " + " | ".join("—" if v != v else f"{v:.1f}" for v in values) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--server-workers", type=int, default=1)
    parser.add_argument("--load-workers", default="2",
                        help="load --workers, or a list to compare (1,2); wrk runs -t2")
    parser.add_argument("--skip-omission", action="store_true")
    parser.add_argument("--cpus", default="", help="taskset CPU list of the servers (qoslab and nginx)")
    parser.add_argument("--load-cpus", default="",
                        help="taskset CPU list of wrk and load (the same for both)")
    args = parser.parse_args()
    CPUS.update(servers=args.cpus, load=args.load_cpus)
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            server_port, nginx_port = free_port(), free_port()
            procs.append(start([sys.executable, "-m", "services.server", "--bind", "127.0.0.1", "--http-port",
                                str(server_port), "--udp-port", "0", "--no-access-log", "--workers",
                                str(args.server_workers)], server_port))
            conf = Path(tmp) / "nginx.conf"
            conf.write_text(NGINX_CONF.format(workers=args.server_workers, tmp=tmp, port=nginx_port,
                                              root=REPO / "www"))
            procs.append(start(["nginx", "-c", str(conf), "-p", tmp], nginx_port))
            closed_loop(args, {f"qoslab server ({args.server_workers} worker)":
                               f"http://127.0.0.1:{server_port}{PATH}",
                               f"nginx ({args.server_workers} worker)": f"http://127.0.0.1:{nginx_port}{PATH}"})
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=10)
    if not args.skip_omission:
        omission()
    return 0


if __name__ == "__main__":
    sys.exit(main())
