"""The replay scheduler against a fake clock: timing, lateness, skipping when behind, several ends."""

from __future__ import annotations

from collections.abc import Iterator

from netem.traces.schedule import Change, Schedule
from netem.traces.scheduler import Applied, Batch, Replayer
from services.common.clock import FakeClock

S = 1_000_000_000
RATE = Schedule("r", (Change(0.0, {"rate_bps": 1}), Change(0.02, {"rate_bps": 2}),
                      Change(0.04, {"rate_bps": 3})), 0.06)


class Rig:
    """A fake clock; each wait wakes `wake_ns` late (or per call from `stalls`); an apply takes `apply_ns`."""

    def __init__(self, wake_ns: int = 0, apply_ns: int = 0, stalls: Iterator[int] | None = None) -> None:
        self.clock = FakeClock()
        self.wake_ns, self.apply_ns, self.stalls = wake_ns, apply_ns, stalls
        self.batches: list[Batch] = []
        self.applied: list[Applied] = []

    def wait_until(self, mono_ns: int) -> None:
        extra = next(self.stalls, self.wake_ns) if self.stalls else self.wake_ns
        self.clock.mono = max(self.clock.mono, mono_ns + extra)
        self.clock.wall = self.clock.mono + self.offset

    @property
    def offset(self) -> int:
        return FakeClock().wall - FakeClock().mono

    def apply(self, batch: Batch) -> None:
        self.batches.append(batch)
        self.clock.advance_ns(self.apply_ns)

    def replayer(self, schedules: dict[str, Schedule], epoch_wall_ns: int) -> Replayer:
        return Replayer(schedules, self.apply, self.clock, self.wait_until, epoch_wall_ns,
                        self.applied.append)


def test_every_change_lands_at_its_time_and_the_state_in_force_first() -> None:
    rig = Rig()
    start = rig.clock.wall
    lateness = rig.replayer({"edge.down": RATE}, start).run(until_wall_ns=start + S // 10)
    assert [b["edge.down"]["rate_bps"] for b in rig.batches] == [1, 2, 3, 1, 2, 3]
    assert [a.due_wall_ns - start for a in rig.applied[1:]] == [k * 20_000_000 for k in range(1, 6)]
    assert rig.applied[0].initial and lateness.samples == [0] * 5
    assert lateness.skipped == 0


def test_lateness_is_wake_up_plus_the_time_the_change_takes() -> None:
    rig = Rig(wake_ns=300_000, apply_ns=200_000)
    start = rig.clock.wall
    lateness = rig.replayer({"e": RATE}, start).run(until_wall_ns=start + S // 10)
    assert lateness.samples == [500_000] * 5
    assert lateness.summary() == {"changes": 5, "skipped": 0, "late_p50_us": 500.0, "late_p99_us": 500.0,
                                  "late_max_us": 500.0}


def test_behind_schedule_it_applies_the_latest_change_and_counts_the_skipped() -> None:
    rig = Rig(stalls=iter([45_000_000]))  # the first wait wakes 45 ms late: two more changes are due
    start = rig.clock.wall
    lateness = rig.replayer({"e": RATE}, start).run(until_wall_ns=start + S // 10)
    values = [b["e"]["rate_bps"] for b in rig.batches]
    assert values == [1, 1, 2, 3]  # 0.02 and 0.04 overtaken by 0.06; then 0.08, 0.10 on time
    assert lateness.skipped == 2
    assert lateness.samples[0] == 5_000_000  # late against the change it applied (due at 60 ms)
    assert lateness.samples[1:] == [0, 0]


def test_joining_a_running_trace_starts_from_the_state_in_force() -> None:
    rig = Rig()
    epoch = rig.clock.wall - 250_000_000  # started 250 ms ago: loop 4, 10 ms into the first change
    rig.replayer({"e": RATE}, epoch).run(until_wall_ns=epoch + 300_000_000)
    assert rig.batches[0] == {"e": {"rate_bps": 1}}
    assert [a.due_wall_ns - epoch for a in rig.applied[1:]] == [260_000_000, 280_000_000, 300_000_000]


def test_before_a_future_epoch_the_first_state_holds() -> None:
    rig = Rig()
    epoch = rig.clock.wall + S
    rig.replayer({"e": RATE}, epoch).run(until_wall_ns=epoch + 40_000_000)
    assert rig.batches[0] == {"e": {"rate_bps": 1}}
    assert [a.due_wall_ns - epoch for a in rig.applied[1:]] == [20_000_000, 40_000_000]


def test_ends_changing_at_the_same_instant_change_together() -> None:
    rig = Rig()
    start = rig.clock.wall
    delay = Schedule("d", (Change(0.0, {"delay_us": 5}), Change(0.04, {"delay_us": 9})), 0.08)
    rig.replayer({"up": RATE, "down": delay}, start).run(until_wall_ns=start + 40_000_000)
    assert rig.batches == [{"up": {"rate_bps": 1}, "down": {"delay_us": 5}}, {"up": {"rate_bps": 2}},
                           {"up": {"rate_bps": 3}, "down": {"delay_us": 9}}]


def test_a_held_series_ends_and_stop_is_honoured() -> None:
    rig = Rig()
    start = rig.clock.wall
    held = Schedule("h", (Change(0.0, {"delay_us": 1}), Change(0.5, {"delay_us": 2})), None)
    assert len(rig.replayer({"e": held}, start).run().samples) == 1
    rig = Rig()
    calls = iter([False, True])
    assert rig.replayer({"e": RATE}, start).run(stop=lambda: next(calls, True)).samples == []


def test_changes_are_prepared_before_their_instant_and_again_when_overtaken() -> None:
    rig = Rig(stalls=iter([0, 45_000_000]))  # the second wait wakes 45 ms late: two more are due by then
    start = rig.clock.wall
    prepared: list[tuple[int, Batch]] = []

    def prepare(batch: Batch) -> tuple[int, Batch]:
        prepared.append((rig.clock.mono, dict(batch)))
        return len(prepared), dict(batch)

    sent: list[tuple[int, Batch]] = []
    replayer = Replayer({"e": RATE}, sent.append, rig.clock, rig.wait_until, start, prepare=prepare)
    replayer.run(until_wall_ns=start + S // 10)
    assert [token for token, _ in sent] == [1, 2, 4, 5]  # token 3 (0.04) was overtaken and re-prepared
    assert prepared[1][1] == {"e": {"rate_bps": 2}} and prepared[1][0] < rig.clock.mono
    assert prepared[3][1] == {"e": {"rate_bps": 2}}  # 0.08 replaced 0.04 and 0.06 after the late wake-up
    assert replayer.sent.samples == [0, 5_000_000, 0]  # due → sent; the landed lateness adds the apply
