"""Real-kernel netem end to end: the fidelity suite inside a QEMU VM (see docs/vm.md).

Runs only when asked for: QOSLAB_VM=1 (scripts/test sets it after scripts/vm-setup); otherwise skipped.
The first run debootstraps a rootfs (~1 min); later runs reuse the cache and take ~3-4 min under TCG.
"""

from __future__ import annotations

import io
import json
import sys

import pytest

from netem.vm.guest.fidelity import RESULT_MARKER
from netem.vm.host import boot, build
from netem.vm.host.cli import FIDELITY_CMD

pytestmark = [pytest.mark.vm, pytest.mark.slow]
SUITE_TIMEOUT_S = 600.0


class Tee(io.StringIO):
    """Keeps the console for the assertion message and echoes it live (visible with -s)."""

    def write(self, text: str) -> int:
        sys.__stdout__.write(text) if sys.__stdout__ else None
        return super().write(text)


def test_run_returns_the_commands_exit_code(image: build.Image) -> None:
    out = io.StringIO()
    result = boot.run(image, ["sh", "-c", "grep -q sch_netem /proc/modules && exit 7"], timeout_s=180,
                      out=out)
    assert result.exit_code == 7, out.getvalue()[-3000:]
    assert result.ready_s is not None


def test_fidelity_suite_passes_in_the_vm(image: build.Image) -> None:
    out = Tee()
    result = boot.run(image, FIDELITY_CMD, timeout_s=SUITE_TIMEOUT_S, out=out)
    console = out.getvalue()
    lines = [line for line in console.splitlines() if line.startswith(RESULT_MARKER)]
    assert lines, f"no result line (exit {result.exit_code}):\n{console[-5000:]}"
    failed = [c for c in json.loads(lines[-1][len(RESULT_MARKER):]) if not c["ok"]]
    table = console[console.find("| case |"):console.find(RESULT_MARKER)]
    assert not failed and result.exit_code == 0, f"exit {result.exit_code}; failed: {failed}\n{table}"
