"""The dry run lists exactly what apply runs: every shipped profile, on fresh links and over another one.

Apply here is the controller's path (`engine.apply_ends`, then `steps.replay_steps`) against the fake tc
of conftest, recording every command; the plan must be those commands, in that order.
"""

from __future__ import annotations

import pytest

from netem.core.engine import Target, apply_ends
from netem.core.links import ends_on
from netem.core.plan import plan_lines
from netem.core.profile import Profile, available, load_profile
from netem.core.steps import replay_steps
from tests.unit.netem.conftest import FakeTc

OVER = (None, "4g", "rate-10mbit")  # fresh links; a netem profile in force (pre-clear); a tbf one


def applied(profile: Profile, over: Profile | None) -> list[str]:
    """The commands apply and the step replay run (reads left out), each with its end's device."""
    fake = FakeTc(netem=True)
    targets = [Target(svc, lnk, way, f"<{svc}@{lnk}>", fake) for svc, lnk, way in ends_on("all")]
    if over is not None:
        apply_ends(targets, over.ends)
    fake.calls.clear()
    apply_ends(targets, profile.ends)
    now = [0.0]
    replay_steps(targets, profile, log=lambda name, **fields: None, monotonic=lambda: now[0],
                 sleep=lambda s: now.__setitem__(0, now[0] + s))
    return [" ".join(argv) for argv in fake.calls if argv[1] not in ("-s", "-d")]  # not the reads


def planned(profile: Profile, over: Profile | None) -> list[str]:
    lines = [line for line in plan_lines(profile, "all", over) if not line.startswith("#")]
    return [line.split(": ", 1)[1] for line in lines if not line.endswith("(default qdisc in force)")]


@pytest.mark.parametrize("over", OVER)
@pytest.mark.parametrize("name", available())
def test_plan_is_what_apply_runs(name: str, over: str | None) -> None:
    profile, before = load_profile(name), load_profile(over) if over else None
    assert planned(profile, before) == applied(profile, before)


def test_plan_shows_the_pre_clear_and_the_skip() -> None:
    over_netem = plan_lines(load_profile("3g"), "core", load_profile("4g"))
    assert over_netem[1:3] == [
        "proxy core.up [netem]: tc qdisc del dev <proxy@core> root",
        "proxy core.up [netem]: tc qdisc replace dev <proxy@core> root handle 1: netem limit 1652 delay 10ms"]
    fresh = plan_lines(load_profile("none"), "edge")
    assert fresh[1] == "client edge.up [default qdisc]: nothing to run (default qdisc in force)"
    cleared = plan_lines(load_profile("none"), "edge", load_profile("rate-10mbit"))
    assert cleared[1] == "client edge.up [default qdisc]: tc qdisc del dev <client@edge> root"
