"""What a profile should do to the client's measurements, and a short probe burst to check it.

`expected` is pure (configured RTT, loss and bottleneck rates along client → proxy → server);
`run` drives the client in the compose project (`docker compose run --rm client qos …`) with the same
NETEM_PROFILE, so the client's own end is shaped by `netem.startup` at its start.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netem.profile import Ends, Profile, load_profile

PROBE_ARGS = ("qos", "--count", "100", "--interval", "10ms", "--json", "--csv", "")
TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Expected:
    """Configured end-to-end values for probes client → proxy (UDP relay) → server and back."""

    rtt_ms: float
    jitter_ms: float
    loss_pct: float
    up_rate_bps: int | None
    down_rate_bps: int | None


def expected(ends: Ends) -> Expected:
    delay_us = sum(imp.delay_us or 0 for imp in ends.values())
    jitter_us = sum((imp.jitter_us or 0) ** 2 for imp in ends.values()) ** 0.5
    delivered = 1.0
    for imp in ends.values():
        loss = imp.loss_pct if imp.loss_pct is not None else 0.0
        if imp.gemodel is not None:
            ge = imp.gemodel
            r = ge.r_pct if ge.r_pct is not None else 100.0 - ge.p_pct
            loss = 100.0 * ge.p_pct / (ge.p_pct + r) if ge.p_pct + r else 0.0
        delivered *= 1 - loss / 100.0
    rates: dict[str, list[int]] = {"up": [], "down": []}
    for (_, direction), imp in ends.items():
        if imp.rate_bps:
            rates[direction].append(imp.rate_bps)
    return Expected(rtt_ms=delay_us / 1000.0, jitter_ms=jitter_us / 1000.0,
                    loss_pct=round(100.0 * (1 - delivered), 6),
                    up_rate_bps=min(rates["up"], default=None),
                    down_rate_bps=min(rates["down"], default=None))


def expected_for(name: str) -> Expected:
    profile: Profile = load_profile(name)
    return expected(profile.ends)


def parse_rows(stdout: str) -> list[dict[str, Any]]:
    rows = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            # the client prints {"config": …, "result": {row}}; accept bare rows too
            row = obj.get("result") if isinstance(obj, dict) and isinstance(obj.get("result"), dict) else obj
            if isinstance(row, dict):
                rows.append(row)
    return rows


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
