"""The timeline: phases, gaps, windows, and load changes handed out on time (fake clock)."""

from __future__ import annotations

import pytest

from services.client.responsiveness import phases
from services.common.clock import FakeClock


def test_default_plan_lines_up_like_crusader() -> None:
    plan = phases.plan(phases.ALL_PHASES, idle_s=5, load_s=10, gap_s=3, window_s=4)
    assert [(p.name, p.start_s, p.end_s, p.window_start_s) for p in plan] == [
        ("idle", 0, 5, 0), ("download", 8, 18, 14), ("upload", 21, 31, 27), ("both", 34, 44, 40)]
    assert [(p.down, p.up) for p in plan] == [(False, False), (True, False), (False, True), (True, True)]
    assert phases.total_s(plan) == 44


def test_a_window_longer_than_the_phase_is_the_whole_phase() -> None:
    (phase,) = phases.plan(["upload"], idle_s=1, load_s=3, gap_s=0, window_s=4)
    assert phase.window_start_s == 0 and phase.window_s == 3


def test_phase_at_is_none_in_gaps() -> None:
    plan = phases.plan(["idle", "download"], idle_s=2, load_s=2, gap_s=1, window_s=1)
    assert [getattr(phases.phase_at(plan, t), "name", None) for t in (0, 1.9, 2.0, 2.5, 3.0, 4.9, 5.0)] == [
        "idle", "idle", None, None, "download", "download", None]


@pytest.mark.parametrize("text", ["", "idle,idle", "idle,sideways"])
def test_bad_phase_lists(text: str) -> None:
    with pytest.raises(phases.PhaseError):
        phases.parse_phases(text)


def test_phase_list_any_order() -> None:
    assert phases.parse_phases(" Both, idle ") == ("both", "idle")


def test_bad_durations() -> None:
    with pytest.raises(phases.PhaseError):
        phases.plan(["idle"], idle_s=0, load_s=1, gap_s=0, window_s=1)
    with pytest.raises(phases.PhaseError):
        phases.plan(["idle"], idle_s=1, load_s=1, gap_s=-1, window_s=1)


def test_timeline_hands_out_each_change_once_on_a_fake_clock() -> None:
    """The engine asks on every tick; every change comes out exactly once, no earlier than due."""
    clock = FakeClock()
    start = clock.mono_ns()
    plan = phases.plan(phases.ALL_PHASES, idle_s=5, load_s=10, gap_s=3, window_s=4)
    timeline = phases.Timeline(plan)
    seen: list[tuple[float, str, bool, bool]] = []
    while (elapsed := (clock.mono_ns() - start) / 1e9) <= timeline.end_s + 1:
        for change in timeline.due(elapsed):
            assert elapsed >= change.at_s
            seen.append((round(elapsed, 1), change.phase, change.down, change.up))
        clock.sleep(0.1)  # a 100 ms sampling tick
    assert seen == [(8.0, "download", True, False), (18.0, "download", False, False),
                    (21.0, "upload", False, True), (31.0, "upload", False, False),
                    (34.0, "both", True, True), (44.0, "both", False, False)]


def test_timeline_next_change_for_the_tick_scheduler() -> None:
    timeline = phases.Timeline(phases.plan(["idle", "upload"], idle_s=2, load_s=3, gap_s=1, window_s=1))
    assert timeline.next_s() == 3.0
    timeline.due(3.0)
    assert timeline.next_s() == 6.0
    timeline.due(6.0)
    assert timeline.next_s() == timeline.end_s == 6.0
