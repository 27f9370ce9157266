"""Queues and AQM under a real kernel: the queue suite (`netem.vm.bloat`) — the FIFO against its backlog,
the codel band, the grade change, the RPM ratio, and the client against iperf3 and irtt on the same link.

Kernel-adaptive: where the kernel has sch_netem and sch_fq_codel (and iperf3 and irtt are installed) the
suite runs here, in namespaces, as root (about 2 minutes under the VM's emulation); on a kernel without
them the suite's queue must be refused cleanly, naming the missing module, and the VM runs the suite
instead (tests/vm/test_bloat.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from netem.core.engine import apply_ends, read_gso, read_root
from netem.core.errors import QdiscUnavailable
from netem.core.profile import parse_profile
from netem.tools import capability
from netem.vm import bloat
from netem.vm.guest import netns

pytestmark = [pytest.mark.netns, pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tc") or not shutil.which("ip"),
                                 reason="needs root, ip and tc (network namespaces)")]
TIMEOUT_S = 900.0


def missing() -> list[str]:
    """What this machine lacks for the suite: qdisc modules, then tools."""
    lacks = [f"sch_{kind}" for kind in ("netem", "fq_codel") if not capability.probe_host(kind).netem]
    return lacks + [tool for tool in ("iperf3", "irtt") if shutil.which(tool) is None]


def test_queue_suite() -> None:
    lacks = missing()
    if lacks and lacks[0].startswith("sch_"):
        refused_cleanly(lacks[0])
        return
    assert not lacks, f"the kernel has the qdiscs but the suite needs {', '.join(lacks)} (apt-get install)"
    done = subprocess.run([sys.executable, "-m", "netem.vm.guest.bloat"], capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)
    console = done.stdout + done.stderr
    print(console[console.find("| case |"):console.find(bloat.RESULT_MARKER)])
    problem = bloat.problems(console, done.returncode)
    assert not problem, problem
    checks = json.loads(console.rsplit(bloat.RESULT_MARKER, 1)[1].splitlines()[0])
    formula = next(c for c in checks if c["metric"].startswith("fullest queue"))
    assert formula["configured"] == pytest.approx(363.36)  # 300 · 1514 · 8 / 10 Mbit/s


def refused_cleanly(module: str) -> None:
    """No netem (or fq_codel) here: the suite's queue profile is refused before anything stays applied,
    and the error names the missing module."""
    case = next(c for c in bloat.CASES if c.name == "fq_codel")
    raw = case.profile()
    assert raw is not None
    netns.setup()
    try:
        targets = netns.targets()
        before = [read_gso(t) for t in targets]
        with pytest.raises(QdiscUnavailable) as info:
            apply_ends(targets, parse_profile(raw, "<case fq_codel>", "fq_codel").ends)
        assert f"this kernel has no {module}" in str(info.value)
        roots = {t.label: read_root(t) for t in targets}
        assert all(state is None or state.is_default() for state in roots.values()), roots
        assert all(read_gso(t) in (None, gso) for t, gso in zip(targets, before, strict=True))
    finally:
        netns.teardown()
