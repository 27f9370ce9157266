"""Queues and AQM under a real kernel: the queue suite (`netem.vm.bloat`) — the FIFO formula, the codel
band, the grade change, the RPM ratio, and the client against iperf3 and irtt on the same link.

Kernel-adaptive: where this host's kernel has sch_netem and sch_fq_codel (and iperf3 and irtt are
installed) the suite runs natively in namespaces as root; elsewhere (this project's machines) in the VM,
whose Debian kernel has them. Like every test here it runs only when asked for (QOSLAB_VM=1). Under TCG
the suite takes about 3 minutes (boot, three cases, two iperf3/irtt comparisons).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from netem.tools import capability
from netem.vm.channel import BLOAT
from netem.vm.guest.bloat import RESULT_MARKER
from netem.vm.host import boot, build
from tests.vm.conftest import VM_ENV
from tests.vm.test_fidelity import Tee

pytestmark = [pytest.mark.vm, pytest.mark.slow]
BLOAT_CMD = ["python3", "-m", "netem.vm.guest.bloat"]
TIMEOUT_S = 900.0


def native_reason() -> str | None:
    """None when this host can run the suite itself; else why not (then the VM runs it)."""
    if os.geteuid() != 0:
        return "not root"
    missing = [tool for tool in ("tc", "ip", "iperf3", "irtt") if shutil.which(tool) is None]
    if missing:
        return f"no {', '.join(missing)}"
    for kind in ("netem", "fq_codel"):
        found = capability.probe_host(kind)
        if not found.netem:
            return found.detail
    return None


def run_suite() -> str:
    """The suite's console output: native when the kernel can, else in the VM."""
    if os.environ.get(VM_ENV) != "1":
        pytest.skip(f"the queue suite runs only when asked for: {VM_ENV}=1 (scripts/test sets it)")
    if native_reason() is None:
        done = subprocess.run([sys.executable, "-m", "netem.vm.guest.bloat"], capture_output=True, text=True,
                              timeout=TIMEOUT_S, check=False)
        return done.stdout + done.stderr
    out = Tee()
    image = build.build(log=lambda text: print(f"qoslab-vm: {text}"))
    boot.run(image, BLOAT_CMD, timeout_s=TIMEOUT_S, out=out)
    return out.getvalue()


def test_queue_suite() -> None:
    console = run_suite()
    lines = [line for line in console.splitlines() if line.startswith(RESULT_MARKER)]
    assert lines, f"no result line:\n{console[-5000:]}"
    checks = json.loads(lines[-1][len(RESULT_MARKER):])
    rows, count = BLOAT.parse(console)
    assert count == len(rows) == 3, (count, len(rows))
    failed = [c for c in checks if not c["ok"]]
    table = console[console.find("| case |"):console.find(RESULT_MARKER)]
    assert not failed, f"failed: {failed}\n{table}"
    formula = next(c for c in checks if c["metric"].startswith("increase p90"))
    assert formula["configured"] == pytest.approx(351.248)  # (300 − 10) · 1514 · 8 / 10 Mbit/s
