"""The real services in the namespaces of `netem.vm.guest.netns`, and the client's measurements through
them."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from netem import topology
from netem.tools.process import stop

PROXY = topology.address("proxy")
SERVER = topology.address("server")
UDP_TARGET = topology.endpoint("proxy", "udp")
HTTP_PROXY = topology.endpoint("proxy", "http")
BULK_PATH = "bulk.bin"
START_TIMEOUT_S = 60.0
BULK_PORT = 5001
SAMPLE_KEYS = ("rtt_ms", "owd_up_ms", "owd_down_ms")
PING_TIME = re.compile(r"time=([0-9.]+) ms")
PING_SENT = re.compile(r"([0-9]+) packets transmitted")


class StackError(RuntimeError):
    """A service did not start or a client run failed; `output` is what it printed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message + (f"\n{output[-3000:]}" if output else ""))
        self.output = output


def in_ns(ns: str, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, sys.executable, "-m", *argv]


def server_argv(root: Path) -> list[str]:
    ports = [str(topology.PORTS[("server", proto)]) for proto in ("http", "udp")]
    return in_ns("server", ["services.server", "--bind", "0.0.0.0", "--http-port", ports[0], "--udp-port",
                            ports[1], "--root", str(root), "--no-access-log"])


def proxy_argv() -> list[str]:
    ports = [str(topology.PORTS[("proxy", proto)]) for proto in ("http", "udp")]
    return in_ns("proxy", ["services.proxy", "--bind", "0.0.0.0", "--http-port", ports[0], "--udp-port",
                           ports[1], "--upstream", topology.endpoint("server", "http"), "--upstream-udp",
                           topology.endpoint("server", "udp"), "--no-access-log"])


def wait_listening(proc: subprocess.Popen[str], name: str, log: IO[str]) -> None:
    """Read the service's log until its `*.listening` event; bounded by START_TIMEOUT_S."""
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        log.write(f"  [{name}] {line}")
        if ".listening" in line:
            return
    raise StackError(f"{name} did not report listening within {START_TIMEOUT_S:g}s", "".join(seen))


@contextmanager
def services(root: Path, log: IO[str] = sys.stdout) -> Iterator[None]:
    """Server and proxy running in their namespaces for the duration of the block; always stopped."""
    procs: list[subprocess.Popen[str]] = []
    try:
        for name, argv in (("server", server_argv(root)), ("proxy", proxy_argv())):
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    stdin=subprocess.DEVNULL)
            procs.append(proc)
            wait_listening(proc, name, log)
        yield
    finally:
        for proc in reversed(procs):
            stop(proc)


# The namespaces share the VM's one kernel clock: one-way delays are absolute (the client's default for
# a non-loopback target would subtract each direction's minimum).
SAME_CLOCK = {"CLIENT_SAME_CLOCK": "true"}


def client(args: Sequence[str], timeout_s: float = 120.0) -> list[dict[str, Any]]:
    """`python -m services.client ARGS --json --csv ''` in the client namespace → its result rows."""
    argv = in_ns("client", ["services.client", *args, "--json", "--csv", ""])
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False,
                              env={**os.environ, **SAME_CLOCK})
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"client {' '.join(args)} timed out after {timeout_s:g}s") from exc
    rows = [json.loads(line)["result"] for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not rows:
        output = done.stdout + done.stderr
        raise StackError(f"client {' '.join(args)} failed (exit {done.returncode})", output)
    return rows


def qos(extra: Sequence[str]) -> dict[str, Any]:
    """One QoS run; the row gets `samples`: per-probe rtt_ms / owd_up_ms / owd_down_ms lists."""
    with tempfile.TemporaryDirectory(prefix="qoslab-raw-") as tmp:
        raw = Path(tmp) / "raw.csv"
        row = client(["qos", "--target", UDP_TARGET, "--raw", str(raw), *extra])[0]
        row["samples"] = read_samples(raw.read_text() if raw.exists() else "")
    return row


def ping(extra: Sequence[str], timeout_s: float = 120.0) -> dict[str, Any]:
    """ICMP echo client → proxy (on edge), answered in the kernel: the edge link without the Python
    relay's noise. → {"packets_sent", "packets_received", "samples": {"rtt_ms": [...]}}."""
    argv = ["ip", "netns", "exec", "client", "ping", "-n", *extra, PROXY]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"ping {' '.join(extra)} timed out after {timeout_s:g}s") from exc
    rtts = [float(m) for m in PING_TIME.findall(done.stdout)]
    sent = PING_SENT.search(done.stdout)
    if not rtts or sent is None:
        raise StackError(f"ping {' '.join(extra)} failed (exit {done.returncode})", done.stdout + done.stderr)
    return {"packets_sent": int(sent.group(1)), "packets_received": len(rtts), "samples": {"rtt_ms": rtts}}


def read_samples(text: str) -> dict[str, list[float]]:
    """Raw per-probe CSV → the received probes' delays (empty cells skipped)."""
    samples: dict[str, list[float]] = {key: [] for key in SAMPLE_KEYS}
    for record in csv.DictReader(io.StringIO(text)):
        for key in SAMPLE_KEYS:
            if record.get(key):
                samples[key].append(float(record[key]))
    return samples


def download() -> dict[str, Any]:
    """The bulk file through the proxy twice (miss, then hit); the faster row (the hit, usually)."""
    url = f"http://{HTTP_PROXY}/{BULK_PATH}"
    rows = client(["http", "--proxy", HTTP_PROXY, "--repeat", "2", url], timeout_s=180.0)
    return max(rows, key=lambda row: float(row.get("goodput_mbps") or 0.0))


def bulk(total_b: int, port: int = BULK_PORT, timeout_s: float = 90.0) -> dict[str, Any]:
    """`netem.tools.bulk`: the proxy namespace sends `total_b` bytes to the client namespace over edge."""
    server = subprocess.Popen(in_ns("proxy", ["netem.tools.bulk", "serve", PROXY, str(port), str(total_b)]),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    try:
        done = subprocess.run(in_ns("client", ["netem.tools.bulk", "fetch", PROXY, str(port)]),
                              capture_output=True, text=True, timeout=timeout_s, check=False)
        if done.returncode != 0 or not done.stdout.startswith("{"):
            raise StackError(f"bulk fetch failed (exit {done.returncode})", done.stderr)
        result: dict[str, Any] = json.loads(done.stdout)
        return result
    finally:
        server.kill() if server.poll() is None else None
        server.wait(timeout=10)
        if server.stderr:
            server.stderr.close()


def make_root(root: Path, bulk_bytes: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text("<h1>qoslab vm</h1>\n")
    (root / BULK_PATH).write_bytes(bytes(range(256)) * (bulk_bytes // 256))
    return root
