"""Replay a profile's time-varying steps with `tc qdisc change` (clock and sleep injected)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from netem.core.engine import Log, Target, apply_ends
from netem.core.profile import Ends, Profile


def changed_targets(targets: Sequence[Target], before: Ends, after: Ends) -> list[Target]:
    return [t for t in targets if before[(t.link, t.direction)] != after[(t.link, t.direction)]]


def replay_steps(targets: Sequence[Target], profile: Profile, *, log: Log,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> int:
    """Apply each step at its offset from now; returns the number of steps applied.

    Bounded: one sleep and one apply per step. A failed change raises ApplyError (the caller clears).
    """
    start = monotonic()
    state = profile.ends
    for step in profile.steps:
        wait_s = start + step.at_s - monotonic()
        if wait_s > 0:
            sleep(wait_s)
        targets_now = changed_targets(targets, state, step.ends)
        apply_ends(targets_now, step.ends, verb="change", log=log)
        log("netem.step", profile=profile.name, at_s=step.at_s,
            changed=",".join(t.label for t in targets_now) or "-")
        state = step.ends
    return len(profile.steps)
