"""Benchmark the qoslab server against nginx and `python -m http.server` in the same run (wrk).

    sudo python bench/server/bench_server.py [--duration 10] [--repeat 3] [--server-workers N]
                                             [--baseline DIR]

Installs wrk and nginx with apt-get when missing (needs root), generates the large files, starts the
servers on 127.0.0.1 one after another, runs wrk for a small file with keep-alive (req/s) and for a 1 MiB
file (MB/s), repeats the whole round `--repeat` times and prints the medians and the ratios against the
targets (≥ 1.0× nginx small, ≥ 1.0× nginx 1 MiB — issue 23's, 0.8× before —, ≥ 20× http.server).
Logging is alike: nginx has `access_log off` and our server runs with `--no-access-log`. `--baseline DIR`
also runs the server from another tree (e.g. an older checkout) in the same rounds, as `qoslab-base`,
for before/after numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SMALL = "/small.html"
LARGE = "/generated/1MiB.bin"
_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def ensure_tools() -> str:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if shutil.which("wrk") and nginx:
        return nginx
    if os.geteuid() != 0:
        sys.exit("wrk and nginx are needed: run as root so apt-get can install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, timeout=300)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk", "nginx"],
                   check=True, env=env, timeout=600)
    return shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0) -> None:
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


def start_ours(root: str, workers: int, tree: Path = REPO) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    cmd = [sys.executable, "-m", "services.server", "--bind", "127.0.0.1", "--http-port", str(port),
           "--udp-port", "0", "--root", root, "--no-access-log", "--workers", str(workers)]
    proc = subprocess.Popen(pinned("servers", cmd), cwd=tree, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)
    wait_port(port)
    return proc, port


def start_nginx(nginx: str, root: str, workers: str, tmp: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    text = (HERE / "nginx.conf.template").read_text()
    for key, value in {"@WORKERS@": workers, "@TMP@": tmp, "@PORT@": str(port), "@ROOT@": root}.items():
        text = text.replace(key, value)
    conf = Path(tmp) / "nginx.conf"
    conf.write_text(text)
    proc = subprocess.Popen(pinned("servers", [nginx, "-c", str(conf), "-p", tmp]), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)
    wait_port(port)
    return proc, port


def start_http_server(root: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(pinned("servers", [sys.executable, "-m", "http.server", str(port), "--bind",
                                               "127.0.0.1", "--directory", root]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    wait_port(port)
    return proc, port


def wrk(url: str, connections: int, duration_s: int) -> dict[str, float]:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{duration_s}s", "--timeout", "5s", url]
    out = subprocess.run(pinned("load", argv),
                         capture_output=True, text=True, timeout=duration_s + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if not rps or not transfer:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    return {"req_s": float(rps.group(1)),
            "mb_s": float(transfer.group(1)) * _UNITS[transfer.group(2).upper()] / 1024**2,
            "non_2xx": float(bad.group(1)) if bad else 0.0,
            "socket_errors": 1.0 if errors else 0.0}


Results = dict[str, dict[str, dict[str, float]]]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` and its direct children (forked workers), from /proc."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(url: str, connections: int, duration_s: int, pid: int) -> dict[str, float]:
    """wrk numbers plus the server's CPU µs per request (less sensitive to a busy machine than req/s)."""
    before = cpu_s(pid)
    result = wrk(url, connections, duration_s)
    requests = max(1.0, result["req_s"] * duration_s)
    result["cpu_us"] = (cpu_s(pid) - before) / requests * 1e6
    return result


def run(args: argparse.Namespace, nginx: str, root: str, round_index: int = 0) -> Results:
    """One round: every server in turn (the order rotates per round, so no server always runs first
    or last while other load on the machine comes and goes), small file then 1 MiB."""
    results: Results = {}
    with tempfile.TemporaryDirectory(prefix="qoslab-bench-") as tmp:
        os.chmod(tmp, 0o755)
        servers: dict[str, Callable[[], tuple[subprocess.Popen[str], int]]] = {
            "qoslab": lambda: start_ours(root, args.server_workers),
            "nginx": lambda: start_nginx(nginx, root, args.nginx_workers, tmp),
            "http.server": lambda: start_http_server(root)}
        if args.baseline:
            servers["qoslab-base"] = lambda: start_ours(root, args.server_workers, Path(args.baseline))
        names = list(servers)
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            proc, port = servers[name]()
            try:
                base = f"http://127.0.0.1:{port}"
                wrk(base + SMALL, args.connections, 1)  # warm-up
                results[name] = {
                    "small": measure(base + SMALL, args.connections, args.duration, proc.pid),
                    "1MiB": measure(base + LARGE, args.large_connections, args.duration, proc.pid)}
            finally:
                proc.terminate()
                proc.wait(timeout=15)
    return results


def medians(rounds: list[Results]) -> Results:
    """Per server, test and metric: the median over the rounds."""
    first = rounds[0]
    return {name: {kind: {key: statistics.median(r[name][kind][key] for r in rounds) for key in metrics}
                   for kind, metrics in tests.items()}
            for name, tests in first.items()}


def ratios(results: Results, ours_name: str) -> list[tuple[str, float, float]]:
    """(label, ratio, target) of `ours_name` against nginx and http.server."""
    ours, nginx, stdlib = results[ours_name], results["nginx"], results["http.server"]
    return [("small vs nginx", ours["small"]["req_s"] / nginx["small"]["req_s"], 1.0),
            ("1MiB vs nginx", ours["1MiB"]["mb_s"] / nginx["1MiB"]["mb_s"], 1.0),  # issue 23
            ("small vs http.server", ours["small"]["req_s"] / stdlib["small"]["req_s"], 20.0),
            ("1MiB vs http.server", ours["1MiB"]["mb_s"] / stdlib["1MiB"]["mb_s"], 1.0)]


def ratio_lines(named: list[tuple[str, float, float]], ours_name: str) -> list[str]:
    lines = []
    for label, ratio, target in named:
        verdict = "ok" if ratio >= target else "BELOW TARGET"
        lines.append(f"{ours_name + ' ' + label:<34} {ratio:7.2f}x  (target >= {target}x) {verdict}")
    return lines


def median_ratios(rounds: list[Results], ours_name: str) -> list[tuple[str, float, float]]:
    """Each ratio taken within its own round (same machine load), then the median over rounds."""
    per_round = [ratios(r, ours_name) for r in rounds]
    return [(label, statistics.median(r[i][1] for r in per_round), target)
            for i, (label, _, target) in enumerate(per_round[0])]


_ORDER = ["qoslab", "nginx", "http.server", "qoslab-base"]


def report(results: Results) -> str:
    lines = [f"{'server':<12} {'small req/s':>12} {'cpu us/req':>10} {'1MiB MB/s':>10} {'cpu us/req':>10}"]
    for name, res in sorted(results.items(), key=lambda item: _ORDER.index(item[0])):
        small, large = res["small"], res["1MiB"]
        lines.append(f"{name:<12} {small['req_s']:>12.0f} {small.get('cpu_us', 0):>10.1f} "
                     f"{large['mb_s']:>10.0f} {large.get('cpu_us', 0):>10.1f}")
    for name in ("qoslab", "qoslab-base"):
        if name in results:
            lines += ratio_lines(ratios(results, name), name)
    bad = [name for name, res in results.items() for kind in res.values() if kind["non_2xx"]]
    if bad:
        lines.append(f"WARNING non-2xx responses from: {', '.join(sorted(set(bad)))}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(REPO / "www"), help="document root served by all three")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections, small file")
    parser.add_argument("--large-connections", type=int, default=16, help="wrk connections, 1 MiB file")
    parser.add_argument("--nginx-workers", default="auto", help="nginx worker_processes")
    parser.add_argument("--server-workers", type=int, default=os.cpu_count() or 1,
                        help="qoslab --workers (default: one per core, like nginx's auto)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--baseline", help="another tree whose server also runs, as qoslab-base")
    parser.add_argument("--json", help="also write every round and the medians to this file")
    parser.add_argument("--cpus", default="", help="taskset CPU list of every server (the same for all)")
    parser.add_argument("--load-cpus", default="", help="taskset CPU list of wrk")
    args = parser.parse_args(argv)
    CPUS.update(servers=args.cpus, load=args.load_cpus)
    nginx = ensure_tools()
    root = str(Path(args.root).resolve())
    subprocess.run([sys.executable, "-m", "services.server.content", root], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, timeout=300)
    rounds = []
    for index in range(max(1, args.repeat)):
        rounds.append(run(args, nginx, root, index))
        print(f"round {index + 1}:\n{report(rounds[-1])}\n", flush=True)
    print(f"median of {len(rounds)} rounds (logging: nginx access_log off, qoslab --no-access-log):")
    print(report(medians(rounds)))
    print("median of the per-round ratios:")
    for name in ("qoslab", "qoslab-base"):
        if name in rounds[0]:
            print("\n".join(ratio_lines(median_ratios(rounds, name), name)))
    if args.json:
        Path(args.json).write_text(json.dumps({"rounds": rounds, "median": medians(rounds)}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
