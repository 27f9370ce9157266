"""Hypothesis profiles for every test directory.

`dev` (loaded here, what a bare `pytest` runs) tries each property on a modest number of examples, so
`tests/unit` stays a few seconds; `ci` tries ten times as many (`scripts/test` passes
`--hypothesis-profile=ci`). A property test therefore states only `deadline` and health checks in its
`@settings`, never `max_examples`, unless each example is itself a measurement (tests/unit/common/
test_http1_linear.py). Whatever a run once falsified is replayed first from `.hypothesis/` in both profiles.

Hypothesis is optional here: the VM runs tests/compose with Debian's pytest and no hypothesis.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path

if importlib.util.find_spec("hypothesis") is not None:
    from hypothesis import settings

    settings.register_profile("dev", max_examples=50, deadline=None)  # no deadline: the machine may be busy
    settings.register_profile("ci", max_examples=500, deadline=None)
    settings.load_profile("dev")


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Inside the QEMU VM its /init sets QOSLAB_STEP_FILE: the running test is the step its watchdog
    names when something stalls (netem/vm/initscript.py)."""
    path = os.environ.get("QOSLAB_STEP_FILE")
    if path:
        with contextlib.suppress(OSError):
            Path(path).write_text(f"pytest {nodeid}\n", encoding="utf-8")
