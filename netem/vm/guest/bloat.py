"""Queues and AQM end to end, in namespaces: `python3 -m netem.vm.guest.bloat` (inside the VM, or natively
as root where the kernel has netem and fq_codel).

Wires the compose topology in namespaces, starts the real server and proxy, and for each case of
`netem.vm.bloat` applies its profile with `netem.core.engine` (the controller's apply path), runs
`client responsiveness --phases idle,download`, then iperf3 (`-R -P 4`) with irtt and the client's `qos`
probing at the same time, and clears. Prints the table, each case's rows behind `channel.BLOAT`, then
one JSON line of checks after RESULT_MARKER. Exit 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from netem import topology
from netem.core.engine import apply_ends, clear_targets
from netem.core.profile import parse_profile
from netem.vm import bloat, checks
from netem.vm.channel import BLOAT
from netem.vm.guest import netns, stack

RESULT_MARKER = "QOSLAB-BLOAT-RESULT "
PROXY = topology.address("proxy")
HTTP = f"http://{stack.HTTP_PROXY}"
IPERF_PORT, IRTT_PORT = "5201", "2112"
LOAD_S, IDLE_S = 10, 3
PROBE_INTERVAL = "20ms"
RESP_ARGS = ["--proxy", "none", "--target", stack.UDP_TARGET, "--download-url", f"{HTTP}/generated/10MiB.bin",
             "--probe-url", f"{HTTP}/small.html", "--upload-url", f"{HTTP}/_server/sink",
             "--phases", "idle,download", "--idle-time", f"{IDLE_S}s", "--load-time", f"{LOAD_S}s",
             "--gap", "1s", "--probe-interval", PROBE_INTERVAL]


def say(text: str) -> None:
    print(text, flush=True)


@contextmanager
def applied(case: bloat.Case) -> Iterator[None]:
    """The case's profile on every link end for the block; always cleared."""
    raw = case.profile()
    targets = netns.targets()
    if raw is not None:
        apply_ends(targets, parse_profile(raw, f"<case {case.name}>", case.name).ends)
    try:
        yield
    finally:
        clear_targets(targets)


def background(ns: str, argv: Sequence[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout_s: float) -> str:
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
    if proc.returncode != 0:
        raise stack.StackError(f"{proc.args!r} failed (exit {proc.returncode})", out + err)
    return out


def probes(seconds: int, tmp: Path, tag: str) -> tuple[subprocess.Popen[str], subprocess.Popen[str], Path]:
    """irtt and the client's qos probing the proxy's address at the same interval, started together."""
    out = tmp / f"irtt-{tag}.json"
    irtt = background("client", ["irtt", "client", "-Q", "-i", PROBE_INTERVAL, "-d", f"{seconds}s",
                                 "-o", str(out), f"{PROXY}:{IRTT_PORT}"])
    qos = background("client", [sys.executable, "-m", "services.client", "qos", "--target", stack.UDP_TARGET,
                                "--duration", f"{seconds}s", "--interval", PROBE_INTERVAL,
                                "--raw", str(tmp / f"qos-{tag}.csv"), "--json", "--csv", ""])
    return irtt, qos, out


def read_probes(irtt: subprocess.Popen[str], qos: subprocess.Popen[str], out: Path, tmp: Path,
                tag: str, timeout_s: float) -> tuple[list[float], list[float]]:
    finish(irtt, timeout_s)
    finish(qos, timeout_s)
    trips = json.loads(out.read_text())["round_trips"]
    theirs = [t["delay"]["rtt"] / 1e6 for t in trips if t.get("lost") == "false" and "rtt" in t["delay"]]
    mine = stack.read_samples((tmp / f"qos-{tag}.csv").read_text())["rtt_ms"]
    return theirs, mine


def compare(tmp: Path) -> dict[str, Any]:
    """Idle probes, then iperf3 loading edge downstream with irtt and qos probing the loaded queue."""
    irtt_server = background("proxy", ["irtt", "server", "-b", f"{PROXY}:{IRTT_PORT}"])
    try:
        time.sleep(1.0)
        idle = read_probes(*probes(IDLE_S, tmp, "idle"), tmp, "idle", 60)
        server = background("proxy", ["iperf3", "-s", "-1", "-B", PROXY, "-p", IPERF_PORT])
        time.sleep(1.0)
        client = background("client", ["iperf3", "-c", PROXY, "-p", IPERF_PORT, "-R", "-P", "4",
                                       "-t", str(LOAD_S), "-O", "3", "-J"])
        time.sleep(4.0)  # past slow start: the queue is full
        loaded = read_probes(*probes(LOAD_S - 5, tmp, "loaded"), tmp, "loaded", 60)
        report = json.loads(finish(client, 60))
        finish(server, 20)
    finally:
        irtt_server.kill()
        irtt_server.wait(timeout=10)
    return {"iperf3_bps": report["end"]["sum_received"]["bits_per_second"],
            "irtt": {"idle": idle[0], "loaded": loaded[0]}, "qos": {"idle": idle[1], "loaded": loaded[1]}}


def run_case(case: bloat.Case, tmp: Path) -> dict[str, Any]:
    started = time.monotonic()
    with applied(case):
        series = tmp / f"{case.name}.json"
        rows = stack.client(["responsiveness", *RESP_ARGS, "--label", f"bloat-{case.name}",
                             "--series", str(series)], timeout_s=180.0)
        found: dict[str, Any] = {"resp": rows}
        if case.queue is not None:
            found.update(compare(tmp))
    say(BLOAT.row_line({"case": case.name, "rows": rows, "series": json.loads(series.read_text()),
                        "iperf3_bps": found.get("iperf3_bps")}))
    download = bloat._phase(rows, "download")
    say(f"  {case.name} ({time.monotonic() - started:.0f}s): download {download.get('throughput_down_bps')}"
        f" bit/s, RTT p50 {download.get('rtt_median_ms')} ms, RPM {download.get('rpm')}, grade "
        f"{download.get('bufferbloat_grade')}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m netem.vm.guest.bloat", description=__doc__)
    parser.parse_args(argv)
    started = time.monotonic()
    netns.setup()
    found: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="qoslab-bloat-") as tmp:
            root = stack.make_root(Path(tmp) / "www", 0)
            content(root)
            with stack.services(root):
                stack.client(["http", "--proxy", "none", f"{HTTP}/small.html"])  # warm-up: the cache too
                for case in bloat.CASES:
                    found[case.name] = run_case(case, Path(tmp))
    finally:
        netns.teardown()
    results = bloat.verdicts(found)
    say(BLOAT.count_line(len(bloat.CASES)))
    say("\n" + checks.table(results) + "\n")
    passed = sum(c.ok for c in results)
    say(f"bloat: {passed} passed, {len(results) - passed} failed in {time.monotonic() - started:.1f}s")
    say(RESULT_MARKER + json.dumps([c.as_dict() for c in results]))
    return 0 if passed == len(results) else 1


def content(root: Path) -> None:
    """A small page for the foreign probes and a 10 MiB object the download flows fetch again and again."""
    (root / "small.html").write_text("<p>small</p>\n")
    generated = root / "generated"
    generated.mkdir(exist_ok=True)
    (generated / "10MiB.bin").write_bytes(bytes(range(256)) * (10 * 4096))


if __name__ == "__main__":
    sys.exit(main())
