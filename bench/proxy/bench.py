"""Proxy benchmark: qoslab vs Varnish (default VCL) on cache hits, small and 1 MiB objects, same origin,
same run; then the UDP relay's packet rate and added latency against the direct path.

    python bench/proxy/bench.py [--duration 5] [--connections 64]

Needs `wrk` and `varnishd` (apt-get install wrk varnish). Prints each number and the ratios.
"""

from __future__ import annotations

import argparse
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


def udp_bench(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> None:
    echo_port, relay_port = free_ports(2)
    tools = str(HERE / "udp_tools.py")
    procs.append(start([sys.executable, tools, "echo", str(echo_port)]))
    procs.append(start([sys.executable, "-m", "services.proxy", "--bind", "127.0.0.1", "--http-port", "0",
                        "--udp-port", str(relay_port), "--upstream", "127.0.0.1:9",
                        "--upstream-udp", f"127.0.0.1:{echo_port}", "--no-access-log"], cwd=ROOT))
    time.sleep(1.0)

    def run(*cmd: str) -> str:
        return subprocess.run([sys.executable, tools, *cmd], capture_output=True, text=True, check=True,
                              timeout=120).stdout.strip()

    direct = [float(x) for x in run("latency", "127.0.0.1", str(echo_port), "3000").split()]
    relayed = [float(x) for x in run("latency", "127.0.0.1", str(relay_port), "3000").split()]
    print(f"udp latency direct: median {direct[0]:.1f} us p99 {direct[1]:.1f} us")
    print(f"udp latency relay : median {relayed[0]:.1f} us p99 {relayed[1]:.1f} us  "
          f"(added median {relayed[0] - direct[0]:.1f} us, p99 {relayed[1] - direct[1]:.1f} us)")
    blasters = [subprocess.Popen([sys.executable, tools, "blast", "127.0.0.1", str(port), str(args.duration),
                                  "32"], stdout=subprocess.PIPE, text=True)
                for port in (relay_port,) for _ in range(args.udp_clients)]
    rate = sum(float(b.communicate(timeout=args.duration + 30)[0] or 0) for b in blasters)
    d_blast = subprocess.Popen([sys.executable, tools, "blast", "127.0.0.1", str(echo_port),
                                str(args.duration), "32"], stdout=subprocess.PIPE, text=True)
    direct_rate = float(d_blast.communicate(timeout=args.duration + 30)[0] or 0)
    print(f"udp relay rate: {rate:.0f} replies/s with {args.udp_clients} clients "
          f"({2 * rate:.0f} datagrams/s through the relay); one direct client {direct_rate:.0f}/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--udp-clients", type=int, default=2)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-udp", action="store_true")
    args = parser.parse_args(argv)
    for tool in ("wrk", "varnishd"):
        if shutil.which(tool) is None and not args.skip_http:
            print(f"missing {tool}: apt-get install wrk varnish", file=sys.stderr)
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
