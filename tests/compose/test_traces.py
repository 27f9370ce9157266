"""Links that change over time and differ per client, through the containers (docs/traces.md).

The same file means the same on every kernel; one probe (`netem.tools.capability`) decides what is right:
- everywhere: a client started after `python -m netem apply` (here with `compose run`) shapes its own end
  with the profile in force and names it in its rows (tbf, so any kernel);
- with sch_netem (the VM here: `python -m netem.vm run --docker --tests -- python3 -m pytest
  tests/compose/test_traces.py`), a Mahimahi trace with three plateaus must show in the client's
  throughput per 1 s window (±10 %, each change within its window), a recorded path replayed and recorded
  again must meet the fidelity goal, twelve replicas in three classes must each measure their class, and
  a per-destination rule must delay one container pair of a shared network and leave the other alone;
- without it, a traced profile must be refused with the reason and leave nothing in force.
References (unimpaired RTT, the pair left alone) are measured in the same run, so the bands hold on a
busy machine.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from netem.tools import capability
from netem.traces import fidelity
from netem.traces.load import load
from netem.traces.recording import Recording, read_recording
from netem.vm import checks
from services.client import linkview

from .conftest import REPO, _docker_ready, free_stack_subnets
from .test_netem_profiles import compose_files

pytestmark = [pytest.mark.compose, pytest.mark.own_stack]
PROBE_IMAGE = "qoslab/server:dev"
TIMEOUT_S = 900.0
PLATEAUS_MBIT = (1.2, 0.3, 0.6)  # each for PLATEAU_S: a 9 s trace, repeating (100, 25, 50 replies/s)
PLATEAU_S = 3
PAYLOAD_B = 1458  # + UDP 8 + IP 20 + Ethernet 14 = one 1500-byte delivery opportunity per reply
ROUND_TRIP_PROBES = 6000  # 60 s at 10 ms: ~100 loss bursts each way for the burst-length goal
REPLICAS = 12
MIX_CLASSES = {"near": (10.0, 0.0), "mid": (40.0, 2.0), "far": (80.0, 5.0)}  # edge delay ms, loss % each way


@dataclass
class Lab:
    """The module's compose project: server and proxy up without a profile; clients started per test."""

    project: str
    files: list[Path]
    results: Path
    netem: bool

    def env(self, **extra: str) -> dict[str, str]:
        return dict(os.environ, QOSLAB_RESULTS=str(self.results), NETEM_PROFILE="", PROXY_PUBLISH_PORT="0",
                    SERVER_PUBLISH_PORT="0", **extra)

    def compose(self, *args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        files = [a for f in self.files for a in ("-f", str(f))]
        argv = ["docker", "compose", "-p", self.project, *files, *args]
        return subprocess.run(argv, cwd=REPO, env=self.env(), capture_output=True, text=True, timeout=timeout,
                              check=False)

    def netem_cmd(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "netem", "--project", self.project, *args]
        return subprocess.run(argv, cwd=REPO, env=self.env(), capture_output=True, text=True,
                              timeout=TIMEOUT_S, check=False)

    def apply(self, profile: Path | str) -> str:
        done = self.netem_cmd("apply", str(profile), "--no-calibrate")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    def clear(self) -> None:
        done = self.netem_cmd("clear")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def client(self, *args: str, detach: bool = False) -> subprocess.CompletedProcess[str]:
        """`compose run` of one client: its start-up step follows the profile in force."""
        done = self.compose("run", "--rm", *(["-d"] if detach else []), "-T", "client", *args)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        return done

    def raw(self, name: str, run_id: str | None = None) -> Recording:
        with (self.results / name).open(newline="") as handle:
            return read_recording(list(csv.DictReader(handle)), name, run_id)

    def rows(self, label: str) -> list[dict[str, str]]:
        with (self.results / "qos_result.csv").open(newline="") as handle:
            return [r for r in csv.DictReader(handle) if r["label"] == label]

    def replay_status(self) -> list[dict[str, str]]:
        """`netem show`'s replay lines: each agent's schedule lateness."""
        out = self.netem_cmd("show").stdout
        return [dict(re.findall(r"(\w+)=(\S+)", line)) for line in out.splitlines()
                if "event=netem.replay" in line]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    reason = _docker_ready()
    if reason is not None:
        pytest.fail(f"compose tests need Docker: {reason}")
    found = capability.probe_docker(PROBE_IMAGE)
    print(f"netem capability: {found.detail}")
    if found.netem is None:
        pytest.fail(f"cannot tell whether this kernel has sch_netem: {found.detail}")
    results = tmp_path_factory.mktemp("results")
    made = Lab(f"qoslabtrace{uuid.uuid4().hex[:8]}", compose_files(), results, found.netem)
    free_stack_subnets()
    try:
        up = made.compose("up", "-d", "server", "proxy")
        assert up.returncode == 0, up.stderr[-3000:]
        made.client("qos", "--count", "20", "--csv", "", "--ready-timeout", "300s")  # warm-up, not kept
        yield made
    finally:
        print(made.compose("logs", "--no-color", "proxy").stdout[-5000:])
        made.compose("down", "-v", "--remove-orphans", "-t", "2")


def write_profile(folder: Path, name: str, body: dict[str, object], **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, text in files.items():
        (folder / file_name).write_text(text)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"description": f"{name} (tests/compose/test_traces.py)", **body}))
    return path


def test_a_client_started_after_apply_shapes_its_end_and_names_the_profile(lab: Lab) -> None:
    """Part 0: `apply` with only server and proxy up says the client's end is pending; a client started
    next (`compose run`) finds the profile in force, shapes its edge egress and names it in its row."""
    out = lab.apply("rate-10mbit")
    assert "no running client container on edge" in out and "pending=1" in out, out
    done = lab.client("qos", "--count", "20", "--interval", "10ms", "--label", "part0")
    readback = [line for line in done.stdout.splitlines()
                if "event=netem.readback" in line and "client" in line]
    assert readback and "qdisc=tbf" in readback[0] and "rate_bps=10000000" in readback[0], done.stdout[-3000:]
    assert [r["profile"] for r in lab.rows("part0")] == ["rate-10mbit"]
    lab.clear()
    done = lab.client("qos", "--count", "20", "--interval", "10ms", "--label", "part0-cleared")
    assert [r["profile"] for r in lab.rows("part0-cleared")] == ["none"]
    assert "qdisc=tbf" not in done.stdout


def plateau_trace() -> str:
    """Evenly spaced 1500-byte opportunities at each plateau's rate; the last stamp is the period."""
    stamps: list[int] = []
    for index, mbit in enumerate(PLATEAUS_MBIT):
        per_ms = mbit * 1e6 / 12_000 / 1000
        start = index * PLATEAU_S * 1000
        stamps += [start + round((k + 1) / per_ms) for k in range(round(per_ms * PLATEAU_S * 1000))]
    return "\n".join(str(s) for s in stamps) + "\n"


def test_without_netem_a_traced_profile_is_refused(lab: Lab, tmp_path: Path) -> None:
    if lab.netem:
        pytest.skip("this kernel has sch_netem: the traced profiles are measured by the tests below")
    path = write_profile(tmp_path, "plateau", {"edge": {"down": {"trace": "plateau.down"}}},
                         **{"plateau.down": plateau_trace()})
    done = lab.netem_cmd("apply", str(path), "--no-calibrate")
    assert done.returncode == 1 and "no sch_netem" in done.stderr, done.stderr[-2000:]
    assert "event=netem.agent" not in done.stdout


def needs_netem(lab: Lab) -> None:
    if not lab.netem:
        pytest.skip("needs sch_netem: on this kernel it runs in the VM (the refusal test is this kernel's)")


def epoch_of(lab: Lab, profile: str) -> int:
    """The epoch the agents of `profile` replay from (stopped agents of earlier profiles report too)."""
    statuses = [s for s in lab.replay_status() if s.get("profile") == profile and "epoch_ns" in s]
    assert statuses, lab.netem_cmd("show").stdout[-2000:]
    return int(max(statuses, key=lambda s: int(s["updated_ns"]))["epoch_ns"])


def test_plateau_trace_throughput_per_window(lab: Lab, tmp_path: Path) -> None:
    needs_netem(lab)
    path = write_profile(tmp_path, "plateau", {"edge": {"down": {"trace": "plateau.down", "limit": 10}}},
                         **{"plateau.down": plateau_trace()})
    lab.apply(path)
    offered_bps = 1.15 * max(PLATEAUS_MBIT) * 1e6 * PAYLOAD_B / 1500
    lab.client("qos", "--size", str(PAYLOAD_B), "--rate", f"{offered_bps / 1e3:.0f}kbit", "--duration", "11s",
               "--wait", "1s", "--raw", "/results/plateau.csv", "--label", "plateau", "--csv", "")
    epoch = epoch_of(lab, "plateau")
    status = [s for s in lab.replay_status() if s.get("profile") == "plateau"]
    lab.clear()
    with (lab.results / "plateau.csv").open(newline="") as handle:
        raw = list(csv.DictReader(handle))
    with (lab.results / "netem-timeline.csv").open(newline="") as handle:
        timeline = list(csv.DictReader(handle))
    sends = [int(r["send_wall_ns"]) for r in raw]
    first_window = -(-(min(sends) - epoch) // 10**9) + 1  # whole windows on the trace's grid, one settling
    last_window = (max(sends) - epoch) // 10**9 - 1
    ends = linkview.end_changes(timeline)
    table, found = [], []
    for window in range(first_window, last_window + 1):
        start = epoch + window * 10**9
        bits = sum(8 * int(r["size_bytes"]) for r in raw
                   if r["arrival_wall_ns"] and start <= int(r["arrival_wall_ns"]) < start + 10**9)
        want, before = (PAYLOAD_B / 1500 * (linkview.configured(ends, at)["down"].rate_bps or 0.0)
                        for at in (start + 5 * 10**8, start - 5 * 10**8))
        changed = abs(want - before) > 0.01 * want
        # the window a change lands in may still hold up to `limit` replies queued at the old rate: it
        # must already be nearer the new plateau; every other window within ±10 % of its plateau
        ok = abs(bits - want) < abs(bits - before) if changed else abs(bits - want) <= 0.10 * want
        table.append(f"| {window} | {window % 9} | {want * 1500 / PAYLOAD_B / 1e6:.2f} | {want / 1e6:.3f} | "
                     f"{bits / 1e6:.3f} | {100 * (bits - want) / want:+.1f} % | "
                     f"{'change' if changed else ''} |")
        found.append(ok)
    print("| window (s from epoch) | trace s | configured Mbit/s | expected payload Mbit/s | measured | Δ | "
          "|\n"
          "|---|---|---|---|---|---|---|\n" + "\n".join(table))
    print(f"replay status: {status}")
    assert len(found) >= 8, table
    assert all(found), "\n".join(table)
    changes = [s for s in status if s.get("changes")]
    # every change landed, none later than the trace's own resolution (one 20 ms window): microseconds
    # natively, milliseconds under emulation (the report prints both)
    assert changes and int(changes[0]["changes"]) >= 3 and changes[0]["skipped"] == "0", status
    assert float(changes[0]["late_p99_us"]) < 20_000, status


def round_trip_profiles(folder: Path) -> Path:
    """Path A: a one-way delay swinging 20-70 ms over 20 s (a step every 100 ms, looping, so a recording
    that starts late still sees it) with jitter on edge, bursty loss each way on core (a traced end's
    changes would restart a Gilbert-Elliott chain: docs/traces.md)."""
    rows = [f"{k * 100},{45 + 25 * math.sin(2 * math.pi * k / 200):.2f}" for k in range(600)]
    return write_profile(folder, "path-a", {
        "edge": {"trace": {"file": "swing.csv", "loop": True}, "delay": "20ms", "jitter": "2ms"},
        "core": {"up": {"gemodel": {"p": "3%", "r": "40%"}}, "down": {"gemodel": {"p": "3%", "r": "50%"}}}},
        **{"swing.csv": "t_ms,delay_ms\n" + "\n".join(rows) + "\n"})


def probe_run(lab: Lab, raw: str, count: int, label: str) -> None:
    lab.client("qos", "--count", str(count), "--interval", "10ms", "--raw", f"/results/{raw}",
               "--label", label, "--csv", "", "--wait", "2s")


def test_record_replay_record_meets_the_fidelity_goal(lab: Lab, tmp_path: Path) -> None:
    needs_netem(lab)
    lab.apply(round_trip_profiles(tmp_path / "a"))
    probe_run(lab, "path-a.csv", ROUND_TRIP_PROBES, "path-a")
    lab.clear()
    probe_run(lab, "base.csv", 300, "base")
    done = subprocess.run([sys.executable, "-m", "netem", "record", str(lab.results / "path-a.csv"), "--base",
                           str(lab.results / "base.csv"), "-o", str(tmp_path / "rec" / "recorded.yaml")],
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stderr)
    lab.apply(tmp_path / "rec" / "recorded.yaml")
    probe_run(lab, "replay.csv", ROUND_TRIP_PROBES, "replay")
    epoch = epoch_of(lab, "recorded")
    status = [s for s in lab.replay_status() if s.get("profile") == "recorded"]
    lab.clear()
    reference, replay = lab.raw("path-a.csv"), lab.raw("replay.csv")
    first = replay.probes[0].send_wall_ns
    assert first is not None
    period = next(iter(load(str(tmp_path / "rec" / "recorded.yaml")).schedules.values())).period_s
    result = fidelity.compare(reference, replay, 0.1, (first - epoch) / 1e9, period)
    print(f"fidelity: KS {result.ks:.3f}, median {result.replay_median_ms:.2f} vs "
          f"{result.reference_median_ms:.2f} ms ({result.median_diff_pct:+.2f} %), "
          + ", ".join(f"loss {x.direction} {x.replay_pct:.2f} vs {x.reference_pct:.2f} % ({x.sigmas:.1f} σ), "
                      f"burst {x.replay_burst:.2f} vs {x.reference_burst:.2f} ({x.burst_diff_pct:+.0f} %)"
                      for x in result.loss)
          + f", correlation {result.correlation:.3f} over {result.windows} windows; replay status {status}")
    deciles = [round(statistics.quantiles(r.rtts_ms(), n=10)[i], 1)
               for r in (reference, replay) for i in (0, 4, 8)]
    print(f"RTT p10/p50/p90 recorded {deciles[:3]}, replayed {deciles[3:]}; per-5-s RTT medians recorded "
          f"{fidelity.window_medians(reference, 5.0, 0.0, 12)}, replayed "
          f"{fidelity.window_medians(replay, 5.0, (first - epoch) / 1e9, 12, period)}")
    assert result.problems() == [], result.problems()


def mix_profile(folder: Path) -> Path:
    shares = ("50%", "25%", "25%")
    classes = [{"name": name, "share": share,
                "edge": {"delay": f"{delay:g}ms", **({"loss": f"{loss:g}%"} if loss else {})}}
               for (name, (delay, loss)), share in zip(MIX_CLASSES.items(), shares, strict=True)]
    return write_profile(folder, "mix", {"clients": {"by": "share", "classes": classes}})


def test_twelve_replicas_in_three_classes(lab: Lab, tmp_path: Path) -> None:
    needs_netem(lab)
    probe_run(lab, "mix-base.csv", 300, "mix-baseline")
    baseline = statistics.median(lab.raw("mix-base.csv").rtts_ms())
    lab.apply(mix_profile(tmp_path))
    up = lab.compose("up", "-d", "--scale", f"client={REPLICAS}", "--no-recreate", "client")
    assert up.returncode == 0, up.stderr[-3000:]
    waited = lab.compose("wait", "client")
    leaves = lab.compose("exec", "-T", "--user", "0", "proxy", "tc", "class", "show", "dev", "eth0").stdout
    lab.clear()
    rows = [r for r in lab.rows("") if r["kind"] == "qos" and r["condition"]]
    print(waited.stdout[-500:], f"rows {len(rows)}; proxy classes:\n{leaves}")
    logs = "" if len(rows) >= REPLICAS else (lab.compose("logs", "--no-color", "client").stdout[-6000:]
                                             + lab.compose("exec", "-T", "proxy", "sh", "-c",
                                                           "tail -40 /run/qoslab/netem/log/*.log").stdout)
    assert len({r["replica"] for r in rows}) >= REPLICAS, logs
    table, found = [], []
    for name, (delay, loss) in MIX_CLASSES.items():
        mine = [r for r in rows if r["condition"] == name]
        sent = sum(int(r["packets_sent"]) for r in mine)
        lost = sum(int(r["lost_packets"]) for r in mine)
        rtt = statistics.median(float(r["rtt_median_ms"]) for r in mine) - baseline
        want_loss = 100 * (1 - (1 - loss / 100) ** 2)
        table.append(f"| {name} | {len(mine)} | {2 * delay:g} | {rtt:.2f} | {want_loss:.2f} | "
                     f"{100 * lost / sent:.2f} (n={sent}) |")
        band = max(0.03 * 2 * delay, 1.0) + 3.0
        found += [checks.Check(name, "RTT median − baseline", 2 * delay, rtt, band, "ms",
                               "±max(3 %, 1 ms) + 3 ms emulation"),
                  checks.binomial(name, "loss", want_loss, 100 * lost / sent, sent)]
    print("| class | replicas | RTT conf ms | RTT meas − baseline ms | loss conf % | loss meas % |\n"
          "|---|---|---|---|---|---|\n" + "\n".join(table))
    assert [len([r for r in rows if r["condition"] == n]) for n in MIX_CLASSES] == [6, 3, 3], table
    assert all(c.ok for c in found), [c for c in found if not c.ok]


def test_a_per_destination_rule_delays_one_pair_and_leaves_the_other(lab: Lab, tmp_path: Path) -> None:
    """Two clients share edge; `to: ADDRESS` delays what the proxy sends to one of them. Both record across
    the apply, so each is its own reference before it."""
    needs_netem(lab)
    names = [f"pair-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    for name in names:
        done = lab.compose("run", "-d", "--name", name, "-T", "client", "qos", "--duration", "120s",
                           "--interval", "20ms", "--raw", f"/results/{name}.csv", "--label", name,
                           "--csv", "")
        assert done.returncode == 0, done.stderr[-2000:]
    address = json.loads(subprocess.run(["docker", "inspect", names[0]], capture_output=True, text=True,
                                        check=True).stdout)[0]["NetworkSettings"]["Networks"]
    target = next(v["IPAddress"] for k, v in address.items() if k.endswith("_edge"))
    time.sleep(20)  # both clients are sending by now (each runs its start-up step, then Python)
    applying_ns = time.time_ns()
    lab.apply(write_profile(tmp_path, "pair", {"edge": {"down": {"to": {target: {"delay": "50ms"}}}}}))
    applied_ns = time.time_ns()
    for name in names:
        subprocess.run(["docker", "wait", name], capture_output=True, timeout=TIMEOUT_S, check=False)
    lab.clear()
    shifts = []
    for name in names:
        probes = lab.raw(f"{name}.csv").probes
        stamped = [(p.send_wall_ns, p.rtt_ms) for p in probes if p.rtt_ms and p.send_wall_ns]
        before = [rtt for sent, rtt in stamped if sent < applying_ns - 10**9]
        after = [rtt for sent, rtt in stamped if sent > applied_ns + 10**9]
        assert len(before) > 100 and len(after) > 100, (name, len(before), len(after))
        shifts.append(statistics.median(after) - statistics.median(before))
    print(f"per-destination rule: RTT shift to {target} {shifts[0]:+.2f} ms, the other client's "
          f"{shifts[1]:+.2f} ms")
    assert abs(shifts[0] - 50.0) <= 5.0, shifts
    assert abs(shifts[1]) <= 3.0, shifts

