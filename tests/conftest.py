"""Hypothesis profiles for every test directory.

`dev` (loaded here, what a bare `pytest` runs) tries each property on a modest number of examples, so
`tests/unit` stays a few seconds; `ci` tries ten times as many (`scripts/test` passes
`--hypothesis-profile=ci`). A property test therefore states only `deadline` and health checks in its
`@settings`, never `max_examples`, unless each example is itself a measurement (tests/unit/common/
test_http1_linear.py). Whatever a run once falsified is replayed first from `.hypothesis/` in both profiles.

Hypothesis is optional here: the VM runs tests/compose with Debian's pytest and no hypothesis.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("hypothesis") is not None:
    from hypothesis import settings

    settings.register_profile("dev", max_examples=50, deadline=None)  # no deadline: the machine may be busy
    settings.register_profile("ci", max_examples=500, deadline=None)
    settings.load_profile("dev")
