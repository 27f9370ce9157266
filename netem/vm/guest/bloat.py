"""Queues and AQM end to end, in namespaces: `python3 -m netem.vm.guest.bloat` (inside the VM, or natively
as root where the kernel has netem and fq_codel).

Wires the compose topology in namespaces, starts the real server and proxy, and for each case of
`netem.vm.bloat` applies its profile with `netem.core.engine` (the controller's apply path), runs
`client responsiveness --phases idle,download` (the queue's backlog sampled meanwhile, `guest/backlog.py`),
then iperf3 (`-R -P 4`) with irtt and the client's `qos` probing at the same time, and clears. Prints
the table, each case's rows behind `channel.BLOAT`, then one JSON line of checks after RESULT_MARKER.
Exit 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
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
from netem.tools.process import stop
from netem.vm import bloat, checks
from netem.vm.channel import BLOAT
from netem.vm.guest import netns, stack

PROXY = topology.address("proxy")
HTTP = f"http://{stack.HTTP_PROXY}"
IPERF_PORT, IRTT_PORT, ECHO_PORT = "5201", "2112", "9001"
ECHO = f"{PROXY}:{ECHO_PORT}"  # a qoslab UDP echo beside irtt's server: one hop each, the same place
LOAD_S, IDLE_S = 10, 3
OMIT_S = 4  # iperf3 leaves its first seconds out (slow start, the queue filling); so do the windows
PROBE_LEAD_S = 9  # probes run this long before iperf3 starts (the client's start-up, then the idle window)
MIN_IDLE_S = 2.0  # the idle window both tools probed in must be at least this long
PROBE_INTERVAL = "20ms"
COMPARE_S = 16  # iperf3's measured seconds: an 11.5 s loaded window of both tools' probes
BACKLOG_INTERVAL_MS = 50  # 75–150 samples of the queue over the download phase's window (TCG: ~75)
COMPARE_INTERVAL = "10ms"  # ~1150 loaded samples per tool: the p99 rests on ~11 of them, not 3
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


def probes(seconds: float, tmp: Path) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
    """irtt and the client's qos probing the proxy's address at the same interval for `seconds`, each to
    a one-hop echo there (irtt's server; the qoslab server's UDP echo)."""
    irtt = background("client", ["irtt", "client", "-Q", "-i", COMPARE_INTERVAL, "-d", f"{seconds:g}s",
                                 "-o", str(tmp / "irtt.json"), f"{PROXY}:{IRTT_PORT}"])
    qos = background("client", [sys.executable, "-m", "services.client", "qos", "--target", ECHO,
                                "--duration", f"{seconds:g}s", "--interval", COMPARE_INTERVAL,
                                "--raw", str(tmp / "qos.csv"), "--json", "--csv", ""])
    return irtt, qos


def samples(tmp: Path) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(send wall ns, RTT ms) of every answered probe: irtt's and the client's."""
    trips = json.loads((tmp / "irtt.json").read_text())["round_trips"]
    theirs = [(int(t["timestamps"]["client"]["send"]["wall"]), t["delay"]["rtt"] / 1e6) for t in trips
              if t.get("lost") == "false" and "rtt" in t.get("delay", {})]
    with (tmp / "qos.csv").open(newline="") as handle:
        mine = [(int(r["send_wall_ns"]), float(r["rtt_ms"])) for r in csv.DictReader(handle) if r["rtt_ms"]]
    return theirs, mine


def window(points: list[tuple[int, float]], start_ns: int, end_ns: int) -> list[float]:
    return [rtt for at, rtt in points if start_ns <= at < end_ns]


def compare(tmp: Path) -> dict[str, Any]:
    """irtt and qos probe together: idle first, then while iperf3 loads edge downstream; each tool's
    samples are cut to the same wall-clock windows (idle: before iperf3; loaded: its steady part)."""
    irtt_server = background("proxy", ["irtt", "server", "-b", f"{PROXY}:{IRTT_PORT}"])
    echo = subprocess.Popen(stack.in_ns("proxy", ["services.server", "--bind", PROXY, "--http-port", "0",
                                                  "--udp-port", ECHO_PORT, "--root", str(tmp),
                                                  "--no-access-log"]),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        stack.wait_listening(echo, "echo", sys.stdout)
        irtt, qos = probes(PROBE_LEAD_S + COMPARE_S + 2, tmp)
        time.sleep(PROBE_LEAD_S)  # both tools running (the client's start-up under emulation included)
        server = background("proxy", ["iperf3", "-s", "-1", "-B", PROXY, "-p", IPERF_PORT])
        time.sleep(1.0)
        load_ns = time.time_ns()
        client = background("client", ["iperf3", "-c", PROXY, "-p", IPERF_PORT, "-R", "-P", "4",
                                       "-t", str(COMPARE_S), "-O", str(OMIT_S), "-J"])
        report = json.loads(finish(client, 60))
        finish(server, 20)
        finish(irtt, 60)
        finish(qos, 60)
    finally:
        irtt_server.kill()
        irtt_server.wait(timeout=10)
        stop(echo)
    theirs, mine = samples(tmp)
    start = max(min(at for at, _ in theirs), min(at for at, _ in mine))  # both probing from here
    idle = (start + 500_000_000, load_ns - 500_000_000)
    if idle[1] - idle[0] < MIN_IDLE_S * 1e9:
        raise stack.StackError(f"the probes started {(load_ns - start) / 1e9:.1f} s before iperf3: no idle "
                               f"window of {MIN_IDLE_S:g} s (a slow start-up under emulation?)")
    loaded = (load_ns + int(OMIT_S * 1e9), load_ns + int((COMPARE_S - 0.5) * 1e9))
    found = {"iperf3_bps": report["end"]["sum_received"]["bits_per_second"],
             "irtt": {"idle": window(theirs, *idle), "loaded": window(theirs, *loaded)},
             "qos": {"idle": window(mine, *idle), "loaded": window(mine, *loaded)},
             "windows_s": [round((t - start) / 1e9, 2) for t in (*idle, *loaded)]}
    say("  probes (n, p50 ms): " + ", ".join(
        f"{tool} {when} {len(found[tool][when])} {bloat.percentile(found[tool][when], 50):.1f}"
        for tool in ("irtt", "qos") for when in ("idle", "loaded")) + f"; windows {found['windows_s']} s")
    return found


@contextmanager
def sampled(case: bloat.Case, out: Path) -> Iterator[None]:
    """The backlog sampler on the queue downloads fill (edge downstream: the proxy's end) for the block,
    in the cases whose queue check 1 reads (`bloat.QUEUE_CASES`); stopped with SIGTERM after it."""
    if case.name not in bloat.QUEUE_CASES:
        yield
        return
    end = next(t for t in netns.targets() if (t.link, t.direction) == ("edge", "down"))
    sampler = subprocess.Popen(stack.in_ns(end.service, ["netem.vm.guest.backlog", end.dev, "--out", str(out),
                                                         "--interval-ms", str(BACKLOG_INTERVAL_MS)]),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        yield
    finally:
        sampler.terminate()
        try:
            output, _ = sampler.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            sampler.kill()
            output, _ = sampler.communicate(timeout=10)
    if sampler.returncode not in (0, -15):
        raise stack.StackError(f"the backlog sampler failed (exit {sampler.returncode})", output)


def run_case(case: bloat.Case, tmp: Path) -> dict[str, Any]:
    started = time.monotonic()
    backlog = tmp / f"{case.name}-backlog.jsonl"
    with applied(case):
        series = tmp / f"{case.name}.json"
        with sampled(case, backlog):
            rows = stack.client(["responsiveness", *RESP_ARGS, "--label", f"bloat-{case.name}",
                                 "--series", str(series)], timeout_s=180.0)
        found: dict[str, Any] = {"resp": rows}
        saved = json.loads(series.read_text())
        if case.name in bloat.QUEUE_CASES:
            lines = [json.loads(line) for line in backlog.read_text().splitlines() if line]
            found["queue"] = bloat.queue_held(lines, bloat.download_window(saved))
        if case.name in bloat.COMPARED:
            found.update(compare(tmp))
    kept: dict[str, Any] = {key: found[key] for key in ("iperf3_bps", "irtt", "qos", "windows_s", "queue")
                            if key in found}
    say(BLOAT.row_line({"case": case.name, "rows": rows, "series": saved, **kept}))
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
    results = bloat.verdicts(found, emulated=bloat.emulated(os.environ))
    say(BLOAT.count_line(len(bloat.CASES)))
    say("\n" + checks.table(results) + "\n")
    passed = sum(c.ok for c in results)
    say(f"bloat: {passed} passed, {len(results) - passed} failed in {time.monotonic() - started:.1f}s")
    say(bloat.RESULT_MARKER + json.dumps([c.as_dict() for c in results]))
    return 0 if passed == len(results) else 1


def content(root: Path) -> None:
    """A small page for the foreign probes and a 10 MiB object the download flows fetch again and again."""
    (root / "small.html").write_text("<p>small</p>\n")
    generated = root / "generated"
    generated.mkdir(exist_ok=True)
    (generated / "10MiB.bin").write_bytes(bytes(range(256)) * (10 * 4096))


if __name__ == "__main__":
    sys.exit(main())
