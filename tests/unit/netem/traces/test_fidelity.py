"""The fidelity figures: KS distance, medians, loss in σ, burst length, per-window correlation."""

from __future__ import annotations

import functools

import pytest

from netem.traces.fidelity import compare, correlation, ks_distance
from netem.traces.gefit import GeParams
from netem.traces.recording import Recording, read_recording
from tests.unit.netem.traces.raw_sim import raw_rows, wave

UP, DOWN = wave(40, 15, 8.0), wave(25, 5, 4.0)
LOSS_UP, LOSS_DOWN = GeParams(0.03, 0.5), GeParams(0.02, 0.5)


@functools.cache  # a Recording is immutable: the tests that compare the same one share it
def record(seed: int, scale: float = 1.0, loss_up: GeParams = LOSS_UP) -> Recording:
    rows = raw_rows(6000, 0.01, lambda t: scale * UP(t), lambda t: scale * DOWN(t), 1.5, loss_up, LOSS_DOWN,
                    seed)
    return read_recording(rows, f"seed {seed}")


def test_statistics() -> None:
    assert ks_distance([1, 2, 3], [1, 2, 3]) == 0
    assert ks_distance([1, 2], [3, 4]) == 1
    assert ks_distance([1, 2, 3, 4], [3, 4, 5, 6]) == 0.5
    assert correlation([1, 2, 3], [2, 4, 6]) == pytest.approx(1)
    assert correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)


def test_two_recordings_of_one_path_meet_the_goal() -> None:
    result = compare(record(1), record(11), 0.1)
    assert result.problems() == [], result
    assert result.ks < 0.05 and result.correlation > 0.95


def test_a_replay_10_percent_slow_misses_ks_and_median() -> None:
    result = compare(record(1), record(11, scale=1.1), 0.1)
    problems = result.problems()
    assert any("KS distance" in p for p in problems) and any("RTT median" in p for p in problems)


def test_twice_the_loss_and_shifted_windows_are_caught() -> None:
    doubled = record(11, loss_up=GeParams(0.06, 0.5))
    lossy = compare(record(1), doubled, 0.1)
    assert any(p.startswith("loss up") for p in lossy.problems())
    shifted = compare(record(1), record(11), 0.1, offset_s=2.0)
    assert any("correlation" in p for p in shifted.problems())


def test_longer_bursts_are_caught() -> None:
    longer = compare(record(1), record(11, loss_up=GeParams(0.015, 0.25)), 0.1)
    assert any(p.startswith("mean loss burst up") for p in longer.problems()), longer
