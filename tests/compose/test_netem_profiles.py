"""netem profiles on the links between the containers, as the client's CSV rows show them.

The same file means the same on every kernel. One probe (`netem.tools.capability`, a netem qdisc on the
loopback of a throwaway container) decides what is right:
- with sch_netem (a netem-capable host, or the VM: `python -m netem.vm run --docker --tests -- python3 -m
  pytest tests/compose/test_netem_profiles.py`, which scripts/test runs on kernels without it), each
  profile brought up with `NETEM_PROFILE=…` must show its configured round-trip delay, one-way delays and
  loss per direction in the client's rows, against a `none` baseline of the same run; and a profile
  applied by the controller to a running stack must show in the next client run;
- without it, a netem profile must stop the stack with exit 78 and the reason, and write no row.
Images are used as built (scripts/test builds them; the VM carries them in): no `--build` here.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from netem.core.expect import expected, parse_rows
from netem.core.profile import Ends, load_profile
from netem.tools import capability
from netem.vm import checks

from .conftest import REPO, _docker_ready, free_stack_subnets

pytestmark = pytest.mark.compose

PROBE_IMAGE = "qoslab/server:dev"
UP_TIMEOUT_S = 600.0
MIN_TOLERANCE_MS = 1.0
REL_TOLERANCE = 0.03
ASYMMETRIC = {  # written by the test: different delay and loss up vs down, some delay on core
    "description": "asymmetric test profile (tests/compose/test_netem_profiles.py)",
    "edge": {"up": {"delay": "30ms", "loss": "5%"}, "down": {"delay": "10ms", "loss": "1%"}},
    "core": {"delay": "5ms"},
}
PROFILES = ("lan", "4g", "satellite", "lossy", "asymmetric")
QOS_COLUMNS = ("rtt_median_ms", "rtt_stddev_ms", "owd_up_median_ms", "owd_down_median_ms", "jitter_ms",
               "loss_pct")
SERVICES = ("server", "proxy", "client")
FAMILIES = ("4", "6")  # compose runs the suite over both (CLIENT_FAMILY=both)
# Probes per suite run: bursty (Gilbert-Elliott) loss needs several hundred for a 3σ band that means
# something (150 gave one run in six outside it); delays need far fewer.
SUITE_PROBES = 500


@dataclass
class Run:
    """One `docker compose up` with a profile: the client's exit code, its CSV rows, the logs."""

    profile: str
    client_exit: int | None  # None: the client never ran (a dependency failed)
    exits: dict[str, int | None]
    rows: list[dict[str, str]]
    project: Project
    up_stderr: str

    @property
    def logs(self) -> str:
        """The containers' logs (asked for only when a check needs them: each call costs under TCG)."""
        return self.project.compose(self.project.env("", ""), "logs", "--no-color").stdout + self.up_stderr

    def qos(self, version: str = "4") -> dict[str, str]:
        """The suite's qos row over one family (compose runs the suite over IPv4, then IPv6)."""
        rows = [r for r in self.rows if r["kind"] == "qos" and r["ip_version"] == version]
        assert len(rows) == 1, f"{self.profile}: expected one IPv{version} qos row, got {self.rows}\n" \
                               f"{self.logs[-3000:]}"
        return rows[0]


def compose_files() -> list[Path]:
    """compose.yaml, or the files COMPOSE_FILE names (the VM adds its override that way)."""
    names = os.environ.get("COMPOSE_FILE", "")
    return [REPO / name for name in names.split(os.pathsep) if name] or [REPO / "compose.yaml"]


@dataclass
class Project:
    """One compose project for the module. Each profile re-creates the containers (`up -d
    --force-recreate` with NETEM_PROFILE set, as a user would); the networks stay."""

    name: str
    files: list[Path]
    results: Path

    def compose(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["docker", "compose", "-p", self.name, *(a for f in self.files for a in ("-f", str(f))), *args]
        return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=UP_TIMEOUT_S,
                              check=False)

    def env(self, profile: str, label: str) -> dict[str, str]:
        return dict(os.environ, QOSLAB_RESULTS=str(self.results), NETEM_PROFILE=profile, CLIENT_LABEL=label,
                    PROXY_PUBLISH_PORT="0", SERVER_PUBLISH_PORT="0")

    def up(self, profile: str, label: str) -> Run:
        """Bring the stack up with NETEM_PROFILE=`profile` and let the client's suite finish."""
        env = self.env(profile, label)
        clock = time.monotonic()
        started = self.compose(env, "up", "-d", "--force-recreate")
        healthy_s = time.monotonic() - clock
        if started.returncode == 0:
            self.compose(env, "wait", "client")
        exits = self.exits(env)
        print(f"profile={profile} up_and_healthy={healthy_s:.1f}s with_suite={time.monotonic() - clock:.1f}s")
        return Run(profile, exits["client"], exits, self.rows(label), self, started.stderr)

    def exits(self, env: dict[str, str]) -> dict[str, int | None]:
        """Each service's exit code; None for one that runs or never started."""
        done = self.compose(env, "ps", "-a", "--format", "json")
        found: dict[str, int | None] = dict.fromkeys(SERVICES)
        for line in done.stdout.splitlines():
            item = json.loads(line) if line.startswith("{") else {}
            if item.get("Service") in found and item.get("State") == "exited":
                found[item["Service"]] = int(item["ExitCode"])
        return found

    def rows(self, label: str) -> list[dict[str, str]]:
        path = self.results / "qos_result.csv"
        if not path.exists():
            return []
        with path.open(newline="") as handle:
            return [r for r in csv.DictReader(handle) if r["label"] == label]

    def qos_json(self, env: dict[str, str]) -> dict[str, Any]:
        """One client `qos` run against the running stack (the client's own end unshaped)."""
        done = self.compose(env, "run", "--rm", "--no-deps", "-T", "-e", "NETEM_PROFILE=", "client", "qos",
                            "--count", "150", "--interval", "20ms", "--ready-timeout", "300s", "--json",
                            "--csv", "")
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        rows = [r for r in parse_rows(done.stdout) if "rtt_median_ms" in r]
        assert rows, done.stdout[-2000:]
        return rows[-1]


@pytest.fixture(scope="module")
def netem_present() -> bool:
    """The capability this kernel has, probed where the containers run."""
    reason = _docker_ready()
    if reason is not None:
        pytest.fail(f"compose tests need Docker: {reason}")
    found = capability.probe_docker(PROBE_IMAGE)
    print(f"netem capability: {found.detail}")
    if found.netem is None:
        pytest.fail(f"cannot tell whether this kernel has sch_netem: {found.detail}")
    return found.netem


@pytest.fixture(scope="module")
def profile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("profiles")
    (folder / "asymmetric.yaml").write_text(yaml.safe_dump(ASYMMETRIC))
    return folder


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, profile_dir: Path) -> Iterator[Project]:
    """The module's compose project; every service also sees the test's profiles at /profiles."""
    tmp = tmp_path_factory.mktemp("stack")
    override = tmp / "override.yaml"
    services: dict[str, dict[str, Any]] = {s: {"volumes": [f"{profile_dir}:/profiles:ro"]} for s in SERVICES}
    services["client"]["environment"] = {"CLIENT_SUITE_COUNT": str(SUITE_PROBES)}
    override.write_text(yaml.safe_dump({"services": services}))
    (tmp / "results").mkdir()
    made = Project(f"qoslabtest{uuid.uuid4().hex[:8]}", [*compose_files(), override], tmp / "results")
    free_stack_subnets()
    try:
        yield made
    finally:
        made.compose(made.env("", "down"), "down", "-v", "--remove-orphans", "-t", "2")


def profile_arg(name: str) -> str:
    return "/profiles/asymmetric.yaml" if name == "asymmetric" else name


@pytest.fixture(scope="module")
def baseline(project: Project) -> Run:
    """`none`: the same stack with unimpaired links, on every kernel. Measured on the second run: the
    first warms up what a cold start pays once (page cache; under emulation, translated code), which
    would otherwise inflate the baseline and not the runs it is compared with."""
    project.up("none", "warm-up")
    return project.up("none", "baseline")


def test_none_runs_the_suite_with_every_qos_value(baseline: Run) -> None:
    assert baseline.client_exit == 0, baseline.logs[-4000:]
    for version in FAMILIES:
        qos = baseline.qos(version)
        assert all(qos[c] != "" for c in QOS_COLUMNS), qos
        assert float(qos["loss_pct"]) == 0.0


def _num(row: dict[str, str], column: str) -> float:
    value = row.get(column, "")
    assert value != "", f"empty {column} in {row}"
    return float(value)


def delay_check(case: str, metric: str, configured_ms: float, measured_ms: float,
                noise_ms: float = 0.0) -> checks.Check:
    """±max(3 %, 1 ms) of the configured delay, plus the path's own noise measured in the same run."""
    tolerance = max(REL_TOLERANCE * configured_ms, MIN_TOLERANCE_MS) + noise_ms
    note = f"±max({REL_TOLERANCE:.0%}, {MIN_TOLERANCE_MS:g} ms)"
    note += f" + {noise_ms:.2f} noise" if noise_ms else ""
    return checks.Check(case, metric, configured_ms, measured_ms, tolerance, "ms", note)


def path_noise(row: dict[str, str]) -> float:
    """How much the unimpaired path's typical RTT varies: baseline median − min. ~0.02 ms on a quiet host,
    a few ms when the services share an emulated CPU (the relay's processing). Widens the delay bands by
    that much; the stalls of a busy CPU lie above the median and do not move it."""
    return max(lower_spread(row), 0.0)


def delayed_ends(ends: Ends, direction: str | None = None) -> int:
    """How many link ends on the path delay packets (in one direction, or both)."""
    return sum(1 for (_, d), imp in ends.items() if imp.delay_us and direction in (None, d))


def profile_checks(name: str, path: Path, run: Run, base: Run) -> list[checks.Check]:
    """Configured vs measured for one profile's qos rows (IPv4 and IPv6), each against the baseline's
    row of its own family: netem shapes an interface, so both families must show the profile."""
    return [check for version in FAMILIES
            for check in family_checks(f"{name} IPv{version}", path, run.qos(version), base.qos(version))]


def family_checks(name: str, path: Path, qos: dict[str, str], ref: dict[str, str]) -> list[checks.Check]:
    """Configured vs measured for one qos row, against the baseline's.

    Each delay band widens by the path's noise once, and once more per delayed end: netem releases a
    delayed packet when a kernel timer fires, and a CPU that delays the relay (emulated, or busy) also
    fires timers late — a few ms per end under TCG, microseconds natively, where the noise is too."""
    ends = load_profile(str(path)).ends
    want = expected(ends)
    noise = path_noise(ref)
    sent = int(_num(qos, "packets_sent"))
    lost_up, lost_down = int(_num(qos, "lost_up_packets")), int(_num(qos, "lost_down_packets"))
    found = [
        delay_check(name, "RTT median − baseline", want.rtt_ms,
                    _num(qos, "rtt_median_ms") - _num(ref, "rtt_median_ms"),
                    noise * (1 + delayed_ends(ends))),
        delay_check(name, "one-way up median − baseline", want.owd_up_ms,
                    _num(qos, "owd_up_median_ms") - _num(ref, "owd_up_median_ms"),
                    noise * (1 + delayed_ends(ends, "up"))),
        delay_check(name, "one-way down median − baseline", want.owd_down_ms,
                    _num(qos, "owd_down_median_ms") - _num(ref, "owd_down_median_ms"),
                    noise * (1 + delayed_ends(ends, "down"))),
        checks.binomial(name, "loss up", want.loss_up_pct, 100.0 * lost_up / sent, sent,
                        want.loss_up_inflation),
        checks.binomial(name, "loss down", want.loss_down_pct, 100.0 * lost_down / max(sent - lost_up, 1),
                        sent - lost_up, want.loss_down_inflation),
    ]
    if want.jitter_ms >= 1.0:  # the spread a jitter profile adds must show above the baseline's
        found.append(checks.at_least(name, "RTT spread − baseline's (median − min)", want.jitter_ms,
                                     lower_spread(qos) - lower_spread(ref), 0.5, "ms",
                                     "≥ 0.5 × configured σ"))
    return found


def lower_spread(row: dict[str, str]) -> float:
    """RTT median − min: the spread of the lower half, which the stalls of a busy or emulated CPU (all
    above the median) leave alone. For normal jitter of σ over ~150 probes it is about 2.5 σ, so a
    profile's must exceed the baseline's by at least half its σ (one-sided: netem with a rate keeps
    packets in order, which can only widen the spread)."""
    return _num(row, "rtt_median_ms") - _num(row, "rtt_min_ms")





@pytest.mark.parametrize("name", PROFILES)
def test_profile_at_start_shows_in_the_client_rows(name: str, netem_present: bool, baseline: Run,
                                                   project: Project, profile_dir: Path) -> None:
    path = profile_dir / "asymmetric.yaml" if name == "asymmetric" else REPO / f"netem/profiles/{name}.yaml"
    run = project.up(profile_arg(name), f"profile-{name}")
    if not netem_present:
        assert run.client_exit is None and not run.rows, run.logs[-3000:]
        assert 78 in (run.exits["server"], run.exits["proxy"]), (run.exits, run.logs[-3000:])
        assert "this kernel has no sch_netem" in run.logs
        return
    assert run.client_exit == 0, run.logs[-4000:]
    for version in FAMILIES:
        assert all(run.qos(version)[c] != "" for c in QOS_COLUMNS), run.qos(version)
    found = profile_checks(name, path, run, baseline)
    print("\n" + checks.table(found))
    assert all(c.ok for c in found), checks.table([c for c in found if not c.ok])


def test_controller_changes_a_running_stack(project: Project, netem_present: bool, tmp_path: Path) -> None:
    env = project.env("", "controller")
    started = project.compose(env, "up", "-d", "--force-recreate", "server", "proxy")
    assert started.returncode == 0, started.stderr[-3000:]
    profile = tmp_path / "core-20ms.yaml"
    profile.write_text("description: 20 ms each way on core\ncore: {delay: 20ms}\n")
    controller = [sys.executable, "-m", "netem", "--project", project.name]
    before = project.qos_json(env)
    applied = subprocess.run([*controller, "apply", str(profile), "--link", "core", "--no-calibrate"],
                             cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    if not netem_present:
        assert applied.returncode == 1 and "this kernel has no sch_netem" in applied.stderr, applied.stderr
        return
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = project.qos_json(env)
    cleared = subprocess.run([*controller, "clear"], cwd=REPO, capture_output=True, text=True, timeout=300,
                             check=False)
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    again = project.qos_json(env)
    # A constant delay (no jitter) shifts every probe by itself, so the minimum RTT shows it without the
    # processing noise that moves a single run's median by several ms under emulation.
    rows = [{k: str(v) for k, v in r.items()} for r in (before, after, again)]
    noise = max(path_noise(r) for r in rows)
    added = _num(rows[1], "rtt_min_ms") - _num(rows[0], "rtt_min_ms")
    back = _num(rows[2], "rtt_min_ms") - _num(rows[0], "rtt_min_ms")
    print(f"controller: rtt min before={before['rtt_min_ms']} after={after['rtt_min_ms']} "
          f"cleared={again['rtt_min_ms']} noise={noise:.2f}")
    assert delay_check("controller", "RTT min added", 40.0, added, noise).ok, (added, noise)
    assert delay_check("controller", "RTT min after clear − before", 0.0, back, noise).ok, (back, noise)
