"""Benchmark the QoS client against irtt, ping and iperf3 on 127.0.0.1, interleaved, in one run.

    python bench/client/bench_qos.py [--rounds 3] [--count 3000] [--out bench/client/RESULTS.md]

Needs `irtt`, `iperf3` and `ping` (Debian: apt-get install irtt iperf3 iputils-ping; ping at 1 ms needs root),
and a C compiler for the C echo (`cc`; without one that ladder is skipped).
Our probes go to the server's UDP echo (`python -m services.server`), irtt's to `irtt server`, ping's to the
kernel; all on loopback. Each round runs every tool once, back to back, so machine load hits all alike;
the table shows the median over rounds. The rate ladder is interleaved too: every step runs each tool
still in the race once, back to back, and each round gives one maximum rate per tool.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from services.client.qos.analyze import result_columns  # noqa: E402
from services.client.qos.config import QosConfig  # noqa: E402
from services.client.qos.runner import run_qos  # noqa: E402

SIZE = 60  # irtt's default packet length on the wire payload
NOTES = """Notes
- Each tool measures against its own echo (the protocols differ): ours against the server's asyncio UDP
  echo, `bench/client/min_echo.py` (one blocking Python thread) and `bench/client/c_echo.c` (recvmmsg/
  sendmmsg, compiled by the bench), irtt against `irtt server` (Go), ping against the kernel. RTTs exclude
  the echo's stamped processing time; what remains is dominated by how fast the echo process wakes up
  (at 1 ms it sleeps between probes), so the C-echo line is the one closest to the client's own cost.
- Timer error = how late each probe left against its schedule (irtt's `timer_error`); both tools skip
  slots after a stall (missed sends), and neither counts skipped slots in the mean.
- Rate ladder: a step fails when loss ≥ 0.1 % or when less than 90 % of the rate was offered. Ours
  fails by the second rule (missed sends: the sender was descheduled or could not keep up and never
  bursts beyond 1 ms of schedule) unless the echo drops (the `lost up` count in the log: probes the echo
  never counted, i.e. its socket buffer overflowed). iperf3 -u sends one way and bursts to catch up
  after stalls, so it fails by loss at the receiver; the two rates are not the same quantity.
- Shared 2-vCPU VM: other jobs ran at the same time (see the load averages), so single rounds vary by
  several times; compare within a round or use the medians.
"""


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process(argv: list[str], ready: str | None = None) -> Iterator[str]:
    """Run a helper; yield its first line matching `ready` (or '' after 0.5 s); always stop it."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        line = ""
        if ready is not None:
            assert proc.stdout is not None
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and ready not in line:
                line = proc.stdout.readline()
        else:
            time.sleep(0.5)
        yield line
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


def ours(port: int, count: int, interval_s: float) -> dict[str, float]:
    row = result_columns(run_qos(QosConfig("127.0.0.1", port, count=count, interval_s=interval_s, size=SIZE,
                                           wait_s=0.3)))
    return {"rtt_median_us": row["rtt_median_ms"] * 1e3, "timer_mean_us": row["timer_error_mean_us"],
            "timer_max_us": row["timer_error_max_us"], "missed_pct": 100 * row["missed_sends"] / count,
            "loss_pct": row["loss_pct"]}


def irtt(port: int, count: int, interval_s: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "irtt.json"
        subprocess.run(["irtt", "client", "-Q", "-i", f"{interval_s * 1e6:.0f}us", "-d",
                        f"{count * interval_s:.3f}s", "-l", str(SIZE), "-o", str(out), f"127.0.0.1:{port}"],
                       check=True, timeout=count * interval_s + 30, capture_output=True)
        stats = json.loads(out.read_text())["stats"]
    return {"rtt_median_us": stats["rtt"]["median"] / 1e3,
            "timer_mean_us": stats["timer_error"]["mean"] / 1e3,
            "timer_max_us": stats["timer_error"]["max"] / 1e3, "missed_pct": stats["timer_miss_percent"],
            "loss_pct": stats["packet_loss_percent"]}


def ping(count: int, interval_s: float) -> dict[str, float]:
    done = subprocess.run(["ping", "-n", "-c", str(count), "-i", f"{interval_s:.3f}", "-s", str(SIZE),
                           "127.0.0.1"], capture_output=True, text=True, timeout=count * interval_s + 30)
    rtts = [float(x) * 1e3 for x in re.findall(r"time=([0-9.]+) ms", done.stdout)]
    return {"rtt_median_us": statistics.median(rtts) if rtts else float("nan"),
            "loss_pct": 100 * (count - len(rtts)) / count}


def ours_at_rate(port: int, pps: int, seconds: float) -> float:
    """Loss % of our probes at `pps`; a run that offered < 90 % of it (skipped slots) does not count."""
    row = result_columns(run_qos(QosConfig("127.0.0.1", port, count=int(pps * seconds), interval_s=1 / pps,
                                           size=SIZE, wait_s=0.5)))
    offered = row["offered_pps"]
    print(f"      offered {offered:.0f} pps, missed sends {row['missed_sends']}, lost up "
          f"{row['lost_up_packets']} down {row['lost_down_packets']}, timer error mean "
          f"{row['timer_error_mean_us']:.1f} µs", flush=True)
    return row["loss_pct"] if offered >= 0.9 * pps else float("inf")


def iperf3_at_rate(port: int, pps: int, seconds: float) -> float:
    done = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-u", "-l", str(SIZE), "-b",
                           f"{pps * SIZE * 8}", "-t", f"{seconds:g}", "--json"],
                          capture_output=True, text=True, timeout=seconds + 30)
    end = json.loads(done.stdout)["end"]["sum"]
    sent = end.get("packets", 0)
    return float(end["lost_percent"]) if sent >= 0.9 * pps * seconds else float("inf")


RATES = [2000, 5000, 10000, 20000, 30000, 40000, 60000, 80000, 100000, 120000, 160000]


def rate_round(ports: dict[str, int], seconds: float) -> dict[str, int]:
    """One interleaved ladder: each step runs every tool that has not failed yet; its last pass counts."""
    def ours_to(port: int) -> Callable[[int], float]:
        return lambda pps: ours_at_rate(port, pps, seconds)

    echoes = (("min", "minimal echo"), ("c", "C echo"), ("server", "server echo (asyncio)"))
    ladders = {f"ours → {name}": ours_to(ports[key]) for key, name in echoes if key in ports}
    ladders["iperf3 -u"] = lambda pps: iperf3_at_rate(ports["iperf3"], pps, seconds)
    best = dict.fromkeys(ladders, 0)
    alive = set(ladders)
    for pps in RATES:
        for name, measure in ladders.items():
            if name in alive:
                loss = measure(pps)
                print(f"    {name:<24} {pps:>7} pps: loss {loss:.3f} %", flush=True)
                if loss < 0.1:
                    best[name] = pps
                else:
                    alive.discard(name)
    return best


@contextmanager
def c_echo() -> Iterator[str | None]:
    """Compile and run bench/client/c_echo.c; yields its `echo=PORT` line (None without a C compiler)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        yield None
        return
    with tempfile.TemporaryDirectory() as tmp:
        binary = str(Path(tmp) / "c_echo")
        subprocess.run([compiler, "-O2", "-o", binary, str(ROOT / "bench/client/c_echo.c")], check=True,
                       timeout=60)
        with process([binary], "echo=") as line:
            yield line


def run_rounds(ports: dict[str, int], args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """Every tool once per round, back to back."""
    ours_to = {"ours → server echo (asyncio)": "server", "ours → minimal echo": "min", "ours → C echo": "c"}
    results: dict[str, list[dict[str, float]]] = {name: [] for name, key in ours_to.items() if key in ports}
    results.update({"irtt": [], "ping": []})
    for round_no in range(args.rounds):
        for name, key in ours_to.items():
            if key in ports:
                results[name].append(ours(ports[key], args.count, args.interval))
        results["irtt"].append(irtt(ports["irtt"], args.count, args.interval))
        results["ping"].append(ping(min(args.count, 1000), args.interval))
        print(f"round {round_no + 1}: " + json.dumps({k: v[-1] for k, v in results.items()}), flush=True)
    return results


def med(rows: list[dict[str, float]], key: str) -> float:
    values = [r[key] for r in rows if key in r]
    return statistics.median(values) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--interval", type=float, default=0.001)
    parser.add_argument("--rate-seconds", type=float, default=2.0)
    parser.add_argument("--rate-rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench/client/RESULTS.md"))
    args = parser.parse_args()
    for tool in ("irtt", "iperf3", "ping"):
        if shutil.which(tool) is None:
            print(f"missing {tool}: apt-get install irtt iperf3 iputils-ping", file=sys.stderr)
            return 2
    irtt_port, iperf_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    server = [sys.executable, "-m", "services.server", "--bind", "127.0.0.1", "--http-port", "0",
              "--udp-port", "0"]
    with process(server, "server.listening") as line, \
            process([sys.executable, str(ROOT / "bench/client/min_echo.py")], "echo=") as echo_line, \
            c_echo() as c_line, \
            process(["irtt", "server", "-b", f"127.0.0.1:{irtt_port}", "-i", "0"]), \
            process(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(iperf_port)]):
        ports = {"server": int(re.search(r"udp=[0-9.]+:(\d+)", line).group(1)),  # type: ignore[union-attr]
                 "min": int(echo_line.strip().split("=")[1]), "irtt": irtt_port, "iperf3": iperf_port}
        if c_line:
            ports["c"] = int(c_line.strip().split("=")[1])
        load_before = os.getloadavg()[0]
        results = run_rounds(ports, args)
        rate_rounds = []
        for round_no in range(args.rate_rounds):
            print(f"max rate, round {round_no + 1}:", flush=True)
            rate_rounds.append(rate_round(ports, args.rate_seconds))
        args.load = (load_before, os.getloadavg()[0])
    report = render(results, rate_rounds, args)
    Path(args.out).write_text(report)
    print(report)
    return 0


def render(results: dict[str, list[dict[str, float]]], rate_rounds: list[dict[str, int]],
           args: argparse.Namespace) -> str:
    lines = [
        "# QoS client benchmark (127.0.0.1)", "",
        f"`python bench/client/bench_qos.py --rounds {args.rounds} --count {args.count}` — "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.count} probes of {SIZE} B every "
        f"{args.interval * 1e3:g} ms per tool and round, medians over {args.rounds} interleaved rounds; "
        f"{os.cpu_count()} CPUs, load average {args.load[0]:.1f} before, {args.load[1]:.1f} after.", "",
        "| tool | RTT median (µs) | timer error mean (µs) | timer error max (µs) | missed sends (%) "
        "| loss (%) |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows in results.items():
        keys = ("rtt_median_us", "timer_mean_us", "timer_max_us", "missed_pct", "loss_pct")
        cells = [med(rows, k) for k in keys]
        lines.append(f"| {name} | " + " | ".join("-" if c != c else f"{c:.1f}" for c in cells) + " |")
    lines += ["", f"Max probe rate with < 0.1 % loss and ≥ 90 % of the rate offered ({SIZE} B, "
              f"{args.rate_seconds:g} s steps, {len(rate_rounds)} interleaved ladders):", "",
              "| tool | median (pps) | per round (pps) |", "|---|---|---|"]
    for name in rate_rounds[0] if rate_rounds else ():
        values = [r[name] for r in rate_rounds]
        lines.append(f"| {name} | {statistics.median(values):.0f} | {' / '.join(map(str, values))} |")
    lines += ["", NOTES]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
