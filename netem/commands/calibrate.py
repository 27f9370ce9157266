"""A short probe burst after `apply`, compared with what the profile should do.

`run` drives the client in the compose project (`docker compose run --rm client qos …`) with the same
NETEM_PROFILE, so the client's own end is shaped by `netem.commands.startup` at its start;
`expected_for` loads a profile and asks the pure `netem.core.expect` what it should give.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netem.core.expect import Expected, expected, parse_rows
from netem.core.profile import Profile, load_profile

PROBE_ARGS = ("qos", "--count", "100", "--interval", "10ms", "--json", "--csv", "")
TIMEOUT_S = 120.0


def expected_for(name: str) -> Expected:
    profile: Profile = load_profile(name)
    return expected(profile.ends)


def run(project: str, profile: str, repo: Path) -> dict[str, Any]:
    """One qos burst from a fresh client container; {"skipped": why} when it cannot run."""
    argv = ["docker", "compose", "-p", project, "run", "--rm", "-T", "--no-deps",
            "-e", f"NETEM_PROFILE={profile}", "client", *PROBE_ARGS, "--profile", profile]
    try:
        done = subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"skipped": f"{' '.join(argv)}: {exc}"}
    rows = [r for r in parse_rows(done.stdout) if r.get("kind") == "qos"]
    if done.returncode != 0 or not rows:
        return {"skipped": f"client qos exited {done.returncode}: {done.stderr.strip()[-300:]}"}
    return {"profile": profile, **rows[-1]}


def report(measured: dict[str, Any], log: Callable[..., None]) -> None:
    if "skipped" in measured:
        log("netem.calibrate", result="skipped", note=measured["skipped"])
        return
    want = expected_for(str(measured["profile"]))
    log("netem.calibrate", profile=measured["profile"],
        rtt_configured_ms=want.rtt_ms, rtt_measured_ms=measured.get("rtt_mean_ms"),
        loss_configured_pct=want.loss_pct, loss_measured_pct=measured.get("loss_pct"),
        jitter_configured_ms=want.jitter_ms, jitter_measured_ms=measured.get("jitter_ms"))
