"""Proxy benchmark: qoslab vs Varnish (default VCL) on cache hits, small and 1 MiB objects, same origin,
same run; then the UDP relay's packet rate and added latency against the direct path.

    python bench/proxy/bench_proxy.py [--duration 5] [--connections 64]

Needs `wrk` and `varnishd` (apt-get install wrk varnish) and `gcc` (the UDP load generator and echo,
udpblast.c, are compiled at run time). Prints each number and the ratios.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
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


def wrk(port: int, path: str, duration_s: float, connections: int) -> float:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{int(duration_s)}s", f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, timeout=duration_s + 30, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise RuntimeError(out)
    return float(found.group(1))


def start(cmd: list[str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)


def http_bench(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> None:
    origin_port, proxy_port, varnish_port = free_ports(3)
    procs.append(start([sys.executable, str(HERE / "origin.py"), str(origin_port)]))
    procs.append(start([sys.executable, "-m", "services.proxy", "--bind", "127.0.0.1", "--http-port",
                        str(proxy_port), "--udp-port", "0", "--upstream", f"127.0.0.1:{origin_port}",
                        "--upstream-udp", "127.0.0.1:9", "--no-access-log", "--cache-size", "256MiB"],
                       cwd=ROOT))
    workdir = tempfile.mkdtemp(prefix="qoslab-varnish-")
    Path(workdir).chmod(0o755)  # varnishd drops root for its own user, which must enter the directory
    procs.append(start(["varnishd", "-F", "-n", workdir, "-a", f"127.0.0.1:{varnish_port}",
                        "-b", f"127.0.0.1:{origin_port}", "-s", "malloc,256m"]))
    for port in (origin_port, proxy_port, varnish_port):
        wait_http(port)
    for name, path in (("small", "/small"), ("1MiB", "/big")):
        wait_http(proxy_port, path)
        wait_http(varnish_port, path)
        ours = wrk(proxy_port, path, args.duration, args.connections)
        theirs = wrk(varnish_port, path, args.duration, args.connections)
        print(f"http hit {name:5}: qoslab {ours:10.0f} req/s  varnish {theirs:10.0f} req/s  "
              f"ratio {ours / theirs:.2f}")


def build_udpblast() -> str:
    """Compile the C load generator / echo (recvmmsg/sendmmsg) so Python tooling is not what is measured."""
    out = Path(tempfile.mkdtemp(prefix="qoslab-udpblast-")) / "udpblast"
    subprocess.run(["gcc", "-O2", "-o", str(out), str(HERE / "udpblast.c")], check=True, timeout=120)
    return str(out)


def relay_counters(http_port: int) -> int:
    """Datagrams the relay forwarded so far, both directions, from its own counters in /_proxy/stats."""
    with socket.create_connection(("127.0.0.1", http_port), timeout=5) as sock:
        sock.sendall(b"GET /_proxy/stats HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    udp = json.loads(raw.split(b"\r\n\r\n", 1)[1])["udp"]
    return int(udp["packets_up_total"]) + int(udp["packets_down_total"])


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
                        "--upstream-udp", f"127.0.0.1:{echo_port}", "--no-access-log"], cwd=ROOT))
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
    before = relay_counters(http_port)
    relay_replies = run("blast", "127.0.0.1", str(relay_port), *shape)[0]
    forwarded = relay_counters(http_port) - before
    direct_replies = run("blast", "127.0.0.1", str(echo_port), *shape)[0]
    print(f"udp relay: {relay_replies:.0f} round trips/s = {2 * relay_replies:.0f} datagrams relayed/s "
          f"(relay's counters: {forwarded / args.duration:.0f}/s) with {args.udp_sockets} sessions x "
          f"{args.udp_window} in flight; direct {direct_replies:.0f} round trips/s; "
          f"ratio {relay_replies / direct_replies:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--udp-sockets", type=int, default=4, help="UDP sessions of the C blaster")
    parser.add_argument("--udp-window", type=int, default=32, help="datagrams in flight per session")
    parser.add_argument("--udp-pings", type=int, default=5000, help="ping-pongs for the latency figures")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-udp", action="store_true")
    args = parser.parse_args(argv)
    for tool, needed in (("wrk", not args.skip_http), ("varnishd", not args.skip_http),
                         ("gcc", not args.skip_udp)):
        if needed and shutil.which(tool) is None:
            print(f"missing {tool}: apt-get install wrk varnish gcc", file=sys.stderr)
            return 1
    procs: list[subprocess.Popen[bytes]] = []
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
