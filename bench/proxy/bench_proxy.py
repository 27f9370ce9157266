"""Proxy benchmark: qoslab vs Varnish (default VCL) on cache hits, small and 1 MiB objects, same origin,
same run; then the UDP relay's packet rate and added latency against the direct path.

    python bench/proxy/bench_proxy.py [--duration 5] [--connections 64] [--rounds 3] [--baseline DIR]
    python bench/proxy/bench_proxy.py --skip-http --duration 4 [--udp-workers 2] [--udp-sockets 16]

Needs `wrk` and `varnishd` (apt-get install wrk varnish) and `gcc` (the UDP load generator and echo,
udpblast.c, are compiled at run time). HTTP hits: `--rounds` interleaved rounds (order swapped each
round), the median of the per-round ratios. Prints each number and the ratios. `--baseline DIR` also
runs the proxy of another checkout (e.g. an older commit's worktree) in the same rounds, as qoslab-base.

The relay against nginx's stream module: `bench/proxy/bench_udp.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
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


def free_ports(count: int) -> list[int]:
    """Distinct free ports (the sockets stay open until all are picked, so none repeats)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def wait_http(port: int, path: str = "/small", timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".encode())
                if sock.recv(64).startswith(b"HTTP/1.1"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"127.0.0.1:{port}{path} did not answer")


def pinned(cpus: str, argv: list[str]) -> list[str]:
    """`argv` run on the CPUs `cpus` (taskset), or anywhere when `cpus` is empty."""
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def wrk(port: int, path: str, duration_s: float, connections: int, cpus: str = "") -> float:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{int(duration_s)}s", f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(pinned(cpus, argv), capture_output=True, text=True, timeout=duration_s + 30,
                         check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise RuntimeError(out)
    return float(found.group(1))


def start(cmd: list[str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)


def start_proxy(args: argparse.Namespace, tree: Path, port: int, origin_port: int) -> subprocess.Popen[bytes]:
    """The qoslab proxy of the checkout `tree` (this one, or `--baseline`'s) in front of the origin."""
    return start(pinned(args.cpus, [
        sys.executable, "-m", "services.proxy", "--bind", "127.0.0.1", "--http-port", str(port),
        "--udp-port", "0", "--upstream", f"127.0.0.1:{origin_port}", "--upstream-udp", "127.0.0.1:9",
        "--no-access-log", "--cache-size", "256MiB"]), cwd=tree)


def http_bench(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> None:
    origin_port, proxy_port, varnish_port, base_port = free_ports(4)
    procs.append(start([sys.executable, str(HERE / "origin.py"), str(origin_port)]))
    procs.append(start_proxy(args, ROOT, proxy_port, origin_port))
    ports = {"qoslab": proxy_port, "varnish": varnish_port}
    if args.baseline:
        procs.append(start_proxy(args, Path(args.baseline), base_port, origin_port))
        ports["qoslab-base"] = base_port
    workdir = tempfile.mkdtemp(prefix="qoslab-varnish-")
    Path(workdir).chmod(0o755)  # varnishd drops root for its own user, which must enter the directory
    procs.append(start(pinned(args.cpus, ["varnishd", "-F", "-n", workdir, "-a", f"127.0.0.1:{varnish_port}",
                                          "-b", f"127.0.0.1:{origin_port}", "-s", "malloc,256m"])))
    for port in (origin_port, *ports.values()):
        wait_http(port)
    names = list(ports)
    for name, path in (("small", "/small"), ("1MiB", "/big")):
        for port in ports.values():
            wait_http(port, path)
        results: dict[str, list[float]] = {who: [] for who in names}
        for round_ in range(args.rounds):  # interleaved, the order rotated every round
            shift = round_ % len(names)
            for who in names[shift:] + names[:shift]:
                results[who].append(wrk(ports[who], path, args.duration, args.connections, args.load_cpus))
            figures = "  ".join(f"{who} {results[who][-1]:.0f}" for who in names)
            print(f"  round {round_ + 1} {name}: {figures} req/s  (load {os.getloadavg()[0]:.1f})")
        for who in (n for n in names if n != "varnish"):
            ratios = [a / b for a, b in zip(results[who], results["varnish"], strict=True)]
            print(f"http hit {name:5}: {who} {statistics.median(results[who]):10.0f} req/s  varnish "
                  f"{statistics.median(results['varnish']):10.0f} req/s  "
                  f"ratio {statistics.median(ratios):.2f} "
                  f"(median of {args.rounds} interleaved rounds; per round "
                  f"{', '.join(f'{r:.2f}' for r in ratios)})")


def build_udpblast() -> str:
    """Compile the C load generator / echo (recvmmsg/sendmmsg) so Python tooling is not what is measured."""
    out = Path(tempfile.mkdtemp(prefix="qoslab-udpblast-")) / "udpblast"
    subprocess.run(["gcc", "-O2", "-o", str(out), str(HERE / "udpblast.c")], check=True, timeout=120)
    return str(out)


def relay_counters(http_port: int) -> tuple[int, list[int]]:
    """Datagrams the relay forwarded so far, both directions, from its own counters in /_proxy/stats:
    the total over all `--udp-workers` and each worker's share."""
    with socket.create_connection(("127.0.0.1", http_port), timeout=5) as sock:
        sock.sendall(b"GET /_proxy/stats HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    udp = json.loads(raw.split(b"\r\n\r\n", 1)[1])["udp"]
    rows = udp.get("per_worker") or [udp]
    return (int(udp["packets_up_total"]) + int(udp["packets_down_total"]),
            [int(r["packets_up_total"]) + int(r["packets_down_total"]) for r in rows])


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def children_cpu() -> float:
    """utime + stime of this script's finished children (the blaster runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its direct children (the relay workers), from /proc."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    ticks = 0
    for one in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def udp_bench(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> None:
    """Relayed pps = datagrams the relay forwards client->upstream plus upstream->client per second.

    C blaster (--udp-sockets sessions x --udp-window datagrams of 64 B in flight) -> relay -> C echo, and
    the same blaster straight at the echo in the same run; latency is a C ping-pong, direct vs relayed.
    """
    tool = build_udpblast()
    echo_port, relay_port, http_port = free_ports(3)
    procs.append(start([tool, "echo", str(echo_port)]))
    procs.append(start([sys.executable, "-m", "services.proxy", "--bind", "127.0.0.1", "--http-port",
                        str(http_port), "--udp-port", str(relay_port), "--upstream", "127.0.0.1:9",
                        "--upstream-udp", f"127.0.0.1:{echo_port}", "--no-access-log",
                        "--udp-workers", str(args.udp_workers)], cwd=ROOT))
    relay_pid = procs[-1].pid
    wait_http(http_port, "/_proxy/health")

    def run(*cmd: str) -> list[float]:
        out = subprocess.run([tool, *cmd], capture_output=True, text=True, check=True, timeout=120).stdout
        return [float(x) for x in out.split()]

    direct = run("latency", "127.0.0.1", str(echo_port), str(args.udp_pings))
    relayed = run("latency", "127.0.0.1", str(relay_port), str(args.udp_pings))
    print(f"udp latency direct: median {direct[0]:.1f} us p99 {direct[1]:.1f} us")
    print(f"udp latency relay : median {relayed[0]:.1f} us p99 {relayed[1]:.1f} us  "
          f"(added median {relayed[0] - direct[0]:.1f} us, p99 {relayed[1] - direct[1]:.1f} us)")
    shape = [str(args.duration), str(args.udp_sockets), str(args.udp_window), "64"]
    before, before_workers = relay_counters(http_port)
    cpu_before, machine_before = cpu_seconds(relay_pid), machine_busy()
    echo_before, blaster_before = cpu_seconds(procs[0].pid), children_cpu()
    relay_replies = run("blast", "127.0.0.1", str(relay_port), *shape)[0]
    cpu, machine = cpu_seconds(relay_pid) - cpu_before, machine_busy()
    echo_cpu, blaster_cpu = cpu_seconds(procs[0].pid) - echo_before, children_cpu() - blaster_before
    busy = (machine[0] - machine_before[0]) / max(machine[1] - machine_before[1], 1e-9)
    time.sleep(0.5)  # extra workers publish their counters every 0.2 s
    after, after_workers = relay_counters(http_port)
    forwarded = after - before
    share = [a - b for a, b in zip(after_workers, before_workers, strict=True)]
    direct_replies = run("blast", "127.0.0.1", str(echo_port), *shape)[0]
    print(f"udp relay ({args.udp_workers} worker(s)): {relay_replies:.0f} round trips/s = "
          f"{2 * relay_replies:.0f} datagrams relayed/s "
          f"(relay's counters: {forwarded / args.duration:.0f}/s, "
          f"per worker {share}) with {args.udp_sockets} sessions x {args.udp_window} in flight; direct "
          f"{direct_replies:.0f} round trips/s; ratio {relay_replies / direct_replies:.2f}")
    print(f"udp relay CPU: {cpu / args.duration:.2f} cores, "
          f"{1e6 * cpu / max(forwarded, 1):.2f} us per datagram relayed; whole machine "
          f"{100 * busy:.0f} % busy of {os.cpu_count()} cores (blaster {blaster_cpu / args.duration:.2f}, "
          f"echo {echo_cpu / args.duration:.2f} cores)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--udp-sockets", type=int, default=4, help="UDP sessions of the C blaster")
    parser.add_argument("--udp-window", type=int, default=32, help="datagrams in flight per session")
    parser.add_argument("--udp-pings", type=int, default=5000, help="ping-pongs for the latency figures")
    parser.add_argument("--udp-workers", default="1", help="the proxy's --udp-workers")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (HTTP hits vs Varnish)")
    parser.add_argument("--cpus", default="",
                        help="taskset CPU list of qoslab and Varnish (the same for both)")
    parser.add_argument("--load-cpus", default="", help="taskset CPU list of wrk")
    parser.add_argument("--baseline", help="another checkout whose proxy also runs in every HTTP round, as "
                                           "qoslab-base (before/after figures)")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-udp", action="store_true")
    args = parser.parse_args(argv)
    procs: list[subprocess.Popen[bytes]] = []
    for tool, needed in (("wrk", not args.skip_http), ("varnishd", not args.skip_http),
                         ("gcc", not args.skip_udp)):
        if needed and shutil.which(tool) is None:
            print(f"missing {tool}: apt-get install wrk varnish gcc", file=sys.stderr)
            return 1
    try:
        if not args.skip_http:
            http_bench(args, procs)
        if not args.skip_udp:
            udp_bench(args, procs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
