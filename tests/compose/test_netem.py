"""netem on the running compose stack: rate shaping through the controller, read back, measured.

Shaping tests use tbf-only profiles, which every kernel runs. A netem profile must apply where the kernel
has sch_netem (probed by `netem.tools.capability`) and otherwise fail with the sch_netem message, leaving
every interface as it was; test_netem_profiles.py measures netem profiles. Each test clears the links it
changed.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netem import topology
from netem.tools import capability

from .conftest import REPO, Stack

BULK_PORT = "5201"


def netem(stack: Stack, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netem", "--project", stack.project, *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout_s, check=False)


def events(stdout: str, name: str) -> list[dict[str, str]]:
    found = []
    for line in stdout.splitlines():
        pairs = dict(p.split("=", 1) for p in shlex.split(line) if "=" in p)
        if pairs.get("event") == name:
            found.append(pairs)
    return found


def core_bps(stack: Stack, size_b: int) -> float:
    """server → proxy over the core link (server egress = core.down), measured at the receiver."""
    sender = subprocess.Popen(["docker", "exec", stack.container_id("server"), "python3", "-m",
                               "netem.tools.bulk", "serve", "0.0.0.0", BULK_PORT, str(size_b)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        done = stack.exec("proxy", "python3", "-m", "netem.tools.bulk", "fetch", topology.address("server"),
                          BULK_PORT, timeout=90)
    finally:
        if sender.poll() is None:
            sender.kill()
        sender.wait(timeout=10)
    result = json.loads(done.stdout)
    assert result["bytes"] == size_b
    return float(result["steady_bps"])


def root_kinds(stack: Stack) -> dict[str, str]:
    done = netem(stack, "show")
    assert done.returncode == 0, done.stderr
    return {e["target"]: e["qdisc"] for e in events(done.stdout, "netem.show")}


@pytest.fixture
def cleared(stack: Stack) -> Iterator[Stack]:
    yield stack
    done = netem(stack, "clear")
    assert done.returncode == 0, done.stdout + done.stderr


def write_profile(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.compose
def test_rate_only_profile_shapes_core_and_clear_restores(cleared: Stack, tmp_path: Path) -> None:
    profile = write_profile(tmp_path, "core-10mbit", "description: core at 10 Mbit/s\ncore: {rate: 10mbit}\n")
    done = netem(cleared, "apply", profile, "--link", "core", "--no-calibrate")
    assert done.returncode == 0, done.stdout + done.stderr
    readback = events(done.stdout, "netem.readback")
    assert len(readback) == 2 and all(e["qdisc"] == "tbf" and e["rate_bps"] == "10000000" for e in readback)
    shaped = core_bps(cleared, 3_000_000)
    print(f"shaped_bps={shaped:.0f}")
    assert abs(shaped - 10e6) / 10e6 < 0.15, shaped
    assert netem(cleared, "clear").returncode == 0
    assert set(root_kinds(cleared).values()) <= {"noqueue"}
    full = core_bps(cleared, 30_000_000)
    print(f"cleared_bps={full:.0f}")
    assert full > 100e6, full


@pytest.mark.compose
def test_netem_profile_applies_or_fails_with_sch_netem_message_and_changes_nothing(cleared: Stack) -> None:
    before = root_kinds(cleared)
    done = netem(cleared, "apply", "4g", "--no-calibrate")
    found = capability.probe_docker("qoslab/server:dev")
    assert found.netem is not None, found.detail
    if found.netem:
        assert done.returncode == 0, done.stdout + done.stderr
        assert set(root_kinds(cleared).values()) == {"netem"}
        assert netem(cleared, "clear").returncode == 0
        assert root_kinds(cleared) == before
        return
    assert done.returncode == 1, done.stdout + done.stderr
    assert "this kernel has no sch_netem" in done.stderr
    assert "Specified qdisc kind is unknown" in done.stderr
    assert "work without netem (tbf): rate" in done.stderr
    assert root_kinds(cleared) == before


@pytest.mark.compose
def test_invalid_profile_fails_validation(stack: Stack, tmp_path: Path) -> None:
    bad = write_profile(tmp_path, "bad", "description: bad\nedge: {delay: 40, reorder: 5%}\n")
    done = netem(stack, "apply", bad, "--no-calibrate")
    assert done.returncode == 2
    assert f"{bad}: edge.delay: invalid value 40: a duration with a unit" in done.stderr


@pytest.mark.compose
def test_time_varying_steps_change_the_qdisc_in_place(cleared: Stack, tmp_path: Path) -> None:
    profile = write_profile(tmp_path, "core-steps", "description: steps\ncore: {rate: 20mbit}\n"
                            "steps:\n  - {at: 1s, core: {rate: 5mbit}}\n")
    done = netem(cleared, "apply", profile, "--link", "core", "--no-calibrate", "--steps")
    assert done.returncode == 0, done.stdout + done.stderr
    verbs = [e["argv"].split()[2] for e in events(done.stdout, "netem.tc")]
    assert verbs == ["replace", "replace", "change", "change"], verbs
    shown = events(netem(cleared, "show").stdout, "netem.show")
    core = [e for e in shown if "(core." in e["target"]]
    assert len(core) == 2 and all(e["rate_bps"] == "5000000" for e in core), core
