"""netem profiles on the links between the containers, as the client's CSV rows show them.

The same file means the same on every kernel. One probe (`netem.capability`, a netem qdisc on the
loopback of a throwaway container) decides what is right:
- with sch_netem (a netem-capable host, or the VM: `python -m netem.vm run --docker -- python3 -m pytest
  tests/compose/test_netem_profiles.py`, which scripts/test runs on kernels without it), each profile
  brought up with `NETEM_PROFILE=…` must show its configured round-trip delay, one-way delays and loss
  per direction in the client's rows, against a `none` baseline of the same run; and a profile applied
  by the controller to a running stack must show in the next client run;
- without it, a netem profile must stop the stack with exit 78 and the reason, and write no row.
Images are used as built (scripts/test builds them; the VM carries them in): no `--build` here.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from netem import capability
from netem.expect import expected, parse_rows
from netem.profile import load_profile
from netem.vm import checks

from .conftest import REPO, _docker_ready, free_stack_subnets

pytestmark = pytest.mark.compose

PROBE_IMAGE = "qoslab/server:dev"
UP_TIMEOUT_S = 300.0
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


@dataclass
class Run:
    """One `docker compose up` with a profile: the client's exit code, its CSV rows, the logs."""

    profile: str
    client_exit: int | None  # None: the client never ran (a dependency failed)
    exits: dict[str, int | None]
    rows: list[dict[str, str]]
    logs: str

    def qos(self) -> dict[str, str]:
        rows = [r for r in self.rows if r["kind"] == "qos"]
        assert len(rows) == 1, f"{self.profile}: expected one qos row, got {self.rows}\n{self.logs[-3000:]}"
        return rows[0]


def _compose(project: str, env: dict[str, str], files: list[Path], *args: str,
             timeout: float = UP_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    argv = ["docker", "compose", "-p", project, *(a for f in files for a in ("-f", str(f))), *args]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def _exit_code(container: str) -> int | None:
    done = subprocess.run(["docker", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", container],
                          capture_output=True, text=True, timeout=60, check=False)
    status, _, code = done.stdout.strip().partition(" ")
    return int(code) if status == "exited" and code.lstrip("-").isdigit() else None


def profile_override(folder: Path) -> Path:
    """A compose override that shows `folder` to every service at /profiles (test-written profiles)."""
    mount = {"volumes": [f"{folder}:/profiles:ro"]}
    path = folder / "override.yaml"
    path.write_text(yaml.safe_dump({"services": {s: mount for s in ("server", "proxy", "client")}}))
    return path


def up(profile: str, tmp: Path, label: str) -> Run:
    """Bring the stack up with NETEM_PROFILE=`profile`, let the client's suite finish, take it down."""
    results = tmp / "results"
    results.mkdir()
    project = f"qoslabtest{uuid.uuid4().hex[:8]}"
    files = [REPO / "compose.yaml", profile_override(tmp)]
    env = dict(os.environ, QOSLAB_RESULTS=str(results), NETEM_PROFILE=profile, CLIENT_LABEL=label,
               PROXY_PUBLISH_PORT="0", SERVER_PUBLISH_PORT="0")
    try:
        free_stack_subnets()
        started = _compose(project, env, files, "up", "-d")
        if started.returncode == 0:
            _compose(project, env, files, "wait", "client")
        ids = {s: _compose(project, env, files, "ps", "-a", "-q", s).stdout.split() for s in
               ("server", "proxy", "client")}
        exits = {s: _exit_code(i[0]) if i else None for s, i in ids.items()}
        logs = _compose(project, env, files, "logs", "--no-color").stdout + started.stderr
    finally:
        _compose(project, env, files, "down", "-v", "--remove-orphans", "-t", "2", timeout=180)
    csv_path = results / "qos_result.csv"
    rows: list[dict[str, str]] = []
    if csv_path.exists():
        with csv_path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    return Run(profile, exits["client"], exits, rows, logs)


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


def profile_arg(name: str) -> str:
    return "/profiles/asymmetric.yaml" if name == "asymmetric" else name


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """`none`: the same stack with unimpaired links, on every kernel."""
    return up("none", tmp_path_factory.mktemp("none"), "baseline")


def test_none_runs_the_suite_with_every_qos_value(baseline: Run) -> None:
    assert baseline.client_exit == 0, baseline.logs[-4000:]
    qos = baseline.qos()
    assert all(qos[c] != "" for c in QOS_COLUMNS), qos
    assert float(qos["loss_pct"]) == 0.0


def _num(row: dict[str, str], column: str) -> float:
    value = row.get(column, "")
    assert value != "", f"empty {column} in {row}"
    return float(value)


def delay_check(case: str, metric: str, configured_ms: float, measured_ms: float) -> checks.Check:
    tolerance = max(REL_TOLERANCE * configured_ms, MIN_TOLERANCE_MS)
    return checks.Check(case, metric, configured_ms, measured_ms, tolerance, "ms",
                        f"±max({REL_TOLERANCE:.0%}, {MIN_TOLERANCE_MS:g} ms)")


def profile_checks(name: str, path: Path, run: Run, base: Run) -> list[checks.Check]:
    """Configured vs measured for one profile's qos row, against the baseline's."""
    profile = load_profile(str(path))
    want = expected(profile.ends)
    qos, ref = run.qos(), base.qos()
    sent = int(_num(qos, "packets_sent"))
    lost_up, lost_down = int(_num(qos, "lost_up_packets")), int(_num(qos, "lost_down_packets"))
    found = [
        delay_check(name, "RTT median − baseline", want.rtt_ms,
                    _num(qos, "rtt_median_ms") - _num(ref, "rtt_median_ms")),
        delay_check(name, "one-way up median − baseline", want.owd_up_ms,
                    _num(qos, "owd_up_median_ms") - _num(ref, "owd_up_median_ms")),
        delay_check(name, "one-way down median − baseline", want.owd_down_ms,
                    _num(qos, "owd_down_median_ms") - _num(ref, "owd_down_median_ms")),
        checks.binomial(name, "loss up", want.loss_up_pct, 100.0 * lost_up / sent, sent,
                        want.loss_up_inflation),
        checks.binomial(name, "loss down", want.loss_down_pct, 100.0 * lost_down / max(sent - lost_up, 1),
                        sent - lost_up, want.loss_down_inflation),
    ]
    if want.jitter_ms >= 1.0:  # the spread a jitter profile adds must show above the baseline's
        spread = checks.excess_stddev(_num(qos, "rtt_stddev_ms"), _num(ref, "rtt_stddev_ms"))
        found.append(checks.Check(name, "RTT σ in excess of baseline", want.jitter_ms, spread,
                                  want.jitter_ms * 0.5, "ms", "> half the configured σ"))
    return found


@pytest.mark.parametrize("name", PROFILES)
def test_profile_at_start_shows_in_the_client_rows(name: str, netem_present: bool, baseline: Run,
                                                   profile_dir: Path, tmp_path: Path) -> None:
    path = profile_dir / "asymmetric.yaml" if name == "asymmetric" else REPO / f"netem/profiles/{name}.yaml"
    run = up(profile_arg(name), tmp_path, f"profile-{name}")
    if not netem_present:
        assert run.client_exit is None and not run.rows, run.logs[-3000:]
        assert 78 in (run.exits["server"], run.exits["proxy"]), (run.exits, run.logs[-3000:])
        assert "this kernel has no sch_netem" in run.logs
        return
    assert run.client_exit == 0, run.logs[-4000:]
    assert all(run.qos()[c] != "" for c in QOS_COLUMNS), run.qos()
    found = profile_checks(name, path, run, baseline)
    print("\n" + checks.table(found))
    assert all(c.ok for c in found), checks.table([c for c in found if not c.ok])


def _qos_json(project: str, env: dict[str, str]) -> dict[str, Any]:
    done = _compose(project, env, [REPO / "compose.yaml"], "run", "--rm", "--no-deps", "-T", "client", "qos",
                    "--count", "200", "--interval", "5ms", "--json", "--csv", "")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = [r for r in parse_rows(done.stdout) if "rtt_median_ms" in r]
    assert rows, done.stdout[-2000:]
    return rows[-1]


@pytest.fixture
def running_stack(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    project = f"qoslabtest{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, QOSLAB_RESULTS=str(tmp_path), NETEM_PROFILE="", PROXY_PUBLISH_PORT="0",
               SERVER_PUBLISH_PORT="0")
    free_stack_subnets()
    try:
        done = _compose(project, env, [REPO / "compose.yaml"], "up", "-d", "--wait", "server", "proxy")
        assert done.returncode == 0, done.stderr[-3000:]
        yield project, env
    finally:
        _compose(project, env, [REPO / "compose.yaml"], "down", "-v", "--remove-orphans", "-t", "2",
                 timeout=180)


def test_controller_changes_a_running_stack(running_stack: tuple[str, dict[str, str]], netem_present: bool,
                                            tmp_path: Path) -> None:
    project, env = running_stack
    profile = tmp_path / "core-20ms.yaml"
    profile.write_text("description: 20 ms each way on core\ncore: {delay: 20ms}\n")
    controller = [sys.executable, "-m", "netem", "--project", project]
    before = _qos_json(project, env)
    applied = subprocess.run([*controller, "apply", str(profile), "--link", "core", "--no-calibrate"],
                             cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
    if not netem_present:
        assert applied.returncode == 1 and "this kernel has no sch_netem" in applied.stderr, applied.stderr
        return
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = _qos_json(project, env)
    cleared = subprocess.run([*controller, "clear"], cwd=REPO, capture_output=True, text=True, timeout=180,
                             check=False)
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    again = _qos_json(project, env)
    added = float(after["rtt_median_ms"]) - float(before["rtt_median_ms"])
    print(f"rtt median before={before['rtt_median_ms']} after={after['rtt_median_ms']} "
          f"cleared={again['rtt_median_ms']}")
    assert delay_check("controller", "RTT added", 40.0, added).ok, added
    back = float(again["rtt_median_ms"]) - float(before["rtt_median_ms"])
    assert delay_check("controller", "RTT after clear − before", 0.0, back).ok, back
