"""Does this kernel have sch_netem? Asked by trying it, in a throwaway network namespace.

`unshare --net` gives the probe its own namespace (gone when the command exits), so nothing on the
host is touched: its loopback gets a netem qdisc or the kernel says "Specified qdisc kind is unknown".
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass

PROBE_ARGV = ["unshare", "--net", "--", "sh", "-c",
              "ip link set lo up && tc qdisc add dev lo root netem delay 1ms && tc qdisc show dev lo"]


@dataclass(frozen=True)
class Capability:
    available: bool
    reason: str  # what the probe saw: tc's own message when it failed


def interpret(returncode: int, stdout: str, stderr: str) -> Capability:
    """The probe's outcome (pure)."""
    if returncode == 0 and "netem" in stdout:
        return Capability(True, "tc added a netem qdisc in a throwaway namespace")
    message = (stderr or stdout).strip().splitlines()
    return Capability(False, message[-1] if message else f"probe exited {returncode}")


@functools.cache
def netem_capability() -> Capability:
    """Probe once per process; needs root and unshare, ip, tc (else: not available, and why)."""
    missing = [tool for tool in ("unshare", "ip", "tc") if shutil.which(tool) is None]
    if missing:
        return Capability(False, f"cannot probe: {', '.join(missing)} not found")
    if os.geteuid() != 0:
        return Capability(False, "cannot probe: a network namespace needs root")
    try:
        done = subprocess.run(PROBE_ARGV, capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return Capability(False, "probe timed out")
    return interpret(done.returncode, done.stdout, done.stderr)


def kernel_has_netem() -> bool:
    return netem_capability().available
