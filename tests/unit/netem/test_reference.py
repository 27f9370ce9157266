"""The reference a delay is measured against (netem/reference.py): which ends, what band."""

from __future__ import annotations

import random
import statistics

import pytest
import yaml

from netem.core.expect import expected
from netem.core.fields import Impairment
from netem.core.profile import load_profile, parse_profile
from netem.vm.reference import (
    REFERENCE_DELAY_US,
    Bracket,
    band_ms,
    delay_check,
    ends_key,
    jitter_ms,
    median_halfwidth_ms,
    modelled_median_ms,
    reference_ends,
    reference_profile,
    sampling_error_ms,
    shift_check,
)


def test_the_reference_delays_exactly_the_ends_the_profile_delays_by_5_ms() -> None:
    four_g = load_profile("4g").ends  # edge and core, jitter, loss and rates
    ref = reference_ends(four_g)
    assert set(ref) == {end for end, imp in four_g.items() if imp.delay_us}
    assert REFERENCE_DELAY_US == 5000
    assert all(imp.delay_us == REFERENCE_DELAY_US and imp.set_keys() == ["delay"] for imp in ref.values())
    lossy = load_profile("lossy").ends  # edge only
    assert set(reference_ends(lossy)) == {("edge", "up"), ("edge", "down")}
    assert ends_key(four_g) != ends_key(lossy)
    assert ends_key(four_g) == ends_key(load_profile("satellite").ends)


def test_the_reference_profile_loads_as_a_profile_with_the_same_ends() -> None:
    ends = load_profile("4g").ends
    data = reference_profile(ends, "4g")
    parsed = parse_profile(yaml.safe_load(yaml.safe_dump(data)), "reference.yaml", "reference").ends
    assert parsed == reference_ends(ends)
    assert expected(parsed).rtt_ms == pytest.approx(20.0)  # 5 ms on each of four ends


@pytest.mark.parametrize(("configured", "measured", "before", "after", "ok"), [
    (49.0, 52.0, 2.0, 2.1, True),    # +1 ms timer slack on both: cancels
    (49.0, 55.9, 2.0, 2.1, False),   # +10 % (4.9 ms) on a 49 ms band of ±1.47 + 0.1
    (49.0, 51.4, 1.0, 3.0, True),    # the references moved by 2 ms: the band widens by as much
    (0.0, 2.9, 2.0, 2.0, True),      # the 1 ms floor
    (0.0, 3.1, 2.0, 2.0, False),
])
def test_the_band_is_3_percent_or_1_ms_plus_the_references_spread(configured: float, measured: float,
                                                                  before: float, after: float,
                                                                  ok: bool) -> None:
    check = delay_check("p", "RTT", configured, measured, Bracket(before, after))
    assert check.ok is ok, check
    assert check.tolerance == pytest.approx(max(0.03 * configured, 1.0) + abs(after - before))
    assert check.measured == pytest.approx(measured - (before + after) / 2)


def _end(delay_ms: float, jitter_ms: float = 0.0, distribution: str | None = None) -> Impairment:
    return Impairment(delay_us=round(delay_ms * 1000), jitter_us=round(jitter_ms * 1000) or None,
                      distribution=distribution)


STALLS = [1.0] * 80 + [3.0] * 10 + [9.0] * 10  # an emulated CPU's overhead: median 1 ms, mean 2 ms


def test_a_constant_delay_passes_the_overheads_median_through_unchanged() -> None:
    assert modelled_median_ms([_end(20), _end(5)], STALLS) == pytest.approx(26.0)
    assert modelled_median_ms([_end(20)], []) == pytest.approx(20.0)  # no overhead measured: the delay


def test_a_jittered_delay_moves_the_median_toward_the_overheads_mean() -> None:
    """The median of a sum is not the sum of medians: with 5 ms of normal jitter on two ends, a skewed
    overhead (median 1, mean 2) moves the median by most of the gap; a symmetric one does not."""
    ends = [_end(20, 5, "normal"), _end(20, 5, "normal"), _end(5), _end(5)]
    plain = 50.0 + 1.0  # the delays plus the overhead's median: what the plain difference expects
    skewed = modelled_median_ms(ends, STALLS)
    assert 0.5 < skewed - plain < 1.0, skewed
    assert modelled_median_ms(ends, [0.0, 1.0, 2.0]) == pytest.approx(plain, abs=0.1)


@pytest.mark.parametrize(("distribution", "table"),
                         [(None, None), ("normal", None), ("custom", [-8192, 8192])])
def test_jitter_is_drawn_as_netem_draws_it(distribution: str | None, table: list[int] | None) -> None:
    rng = random.Random(3)
    tables = {"custom": table} if table else {}
    draws = [jitter_ms(_end(20, 4, distribution), rng, tables) for _ in range(4000)]
    if distribution is None:  # netem's default: uniform in ±jitter
        assert -4.0 <= min(draws) < -3.9 and 3.9 < max(draws) <= 4.0
        assert statistics.pstdev(draws) == pytest.approx(4 / 3 ** 0.5, rel=0.05)
    elif distribution == "normal":
        assert statistics.pstdev(draws) == pytest.approx(4.0, rel=0.05)
    else:  # jitter × t / 8192, t from the table: ±4 ms exactly
        assert set(draws) == {-4.0, 4.0}


def test_a_distribution_without_a_table_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="pareto"):
        jitter_ms(_end(20, 4, "pareto"), random.Random(1), {})


def test_a_delay_10_percent_off_still_fails_against_the_modelled_value() -> None:
    ends = [_end(20, 5, "normal"), _end(20, 5, "normal"), _end(5), _end(5)]
    reference = 20.0 + 1.0  # 5 ms on four ends, plus the overhead's median
    configured = modelled_median_ms(ends, STALLS) - reference
    right = delay_check("4g", "RTT", configured, configured + reference, Bracket(reference, reference))
    wrong = delay_check("4g", "RTT", configured, 1.1 * configured + reference, Bracket(reference, reference))
    assert right.ok and not wrong.ok, (right, wrong)


@pytest.mark.parametrize(("shift", "other", "ok"), [
    (50.05, 0.21, True),   # the VM runs: 49.35-51.24 for 50 after the other pair's shift
    (52.49, 1.25, True),   # a drift both pairs saw cancels
    (55.0, 0.3, False),    # 10 % off fails, with or without drift
    (58.0, 3.0, False),
    (45.0, -0.3, False),
])
def test_a_per_destination_shift_is_read_against_the_pair_left_alone(shift: float, other: float,
                                                                     ok: bool) -> None:
    check = shift_check("pair", "RTT shift", 50.0, shift, other)
    assert check.ok is ok, check
    assert check.measured == pytest.approx(shift - other)


def test_the_guest_polls_when_idle_only_when_asked() -> None:
    from netem.vm.host.boot import IDLE_POLL_ENV, KERNEL_ARGS, kernel_args

    assert kernel_args({}) == KERNEL_ARGS and "idle=poll" not in KERNEL_ARGS
    assert kernel_args({IDLE_POLL_ENV: "1"}).endswith(" idle=poll")
    assert kernel_args({IDLE_POLL_ENV: "0"}) == KERNEL_ARGS


@pytest.mark.parametrize(("configured", "allowance", "band"), [
    (20.0, 0.0, 1.0),      # the 1 ms floor below 33 ms
    (160.0, 0.0, 4.8),     # 3 % above it
    (-40.0, 0.5, 1.7),     # a negative difference is banded by its size
    (50.0, 1.25, 2.75),    # plus what the same run's reference allows for
])
def test_every_delay_band_is_three_percent_with_a_floor_plus_the_references_allowance(
        configured: float, allowance: float, band: float) -> None:
    assert band_ms(configured, allowance) == pytest.approx(band)
    assert delay_check("c", "m", configured, configured, Bracket(0.0, allowance)).tolerance == \
        pytest.approx(band_ms(configured, allowance))
    assert shift_check("c", "m", configured, configured, allowance).tolerance == pytest.approx(band)


def _normal(rng: random.Random, n: int, mu: float, sigma: float) -> list[float]:
    return [rng.gauss(mu, sigma) for _ in range(n)]


def test_the_medians_interval_is_three_standard_errors_for_normal_samples() -> None:
    rng = random.Random(5)
    sigma, n = 7.07, 500  # 4g's RTT: two ends of 5 ms normal jitter
    widths = [median_halfwidth_ms(_normal(rng, n, 50.0, sigma)) for _ in range(20)]
    assert statistics.median(widths) == pytest.approx(3 * 1.2533 * sigma / n ** 0.5, rel=0.1)
    assert median_halfwidth_ms([]) == median_halfwidth_ms([3.0]) == 0.0
    assert median_halfwidth_ms([5.0] * 300) == 0.0  # a constant delay adds nothing


def test_the_medians_interval_holds_the_true_median_whatever_the_shape() -> None:
    """Distribution-free: a skewed overhead (an emulated CPU's stalls) is covered as often as ~99.7 %."""
    rng = random.Random(12)
    missed = 0
    for _ in range(400):  # 2 ms plus a lognormal tail: the true median is 2 + e⁰ = 3 ms
        samples = [2.0 + rng.lognormvariate(0.0, 1.5) for _ in range(300)]
        if abs(statistics.median(samples) - 3.0) > median_halfwidth_ms(samples):
            missed += 1
    assert missed <= 4, missed  # 1.2 expected at 99.7 %; a 2σ interval would miss ~18


def test_the_sampling_error_passes_4gs_jittered_median_and_still_fails_10_percent_off() -> None:
    """CI of 0319dd1: 4g's RTT median read 48.62 against 46.58 ± 1.61 ms, references agreeing, no stall.
    2.04 ms over is 5 standard errors of a median of 500 probes with 4g's σ (0.40 ms), which the band did
    not allow for; with the medians' sampling term (~1.2 ms more) it passes, and a 10 % error still fails."""
    rng = random.Random(2)
    run = _normal(rng, 500, 48.6, 7.07)
    before, after = _normal(rng, 300, 9.0, 0.8), _normal(rng, 300, 9.0, 0.8)
    sampling = sampling_error_ms(run, before, after)
    assert 1.0 < sampling < 1.4, sampling
    configured, reference = 46.58, Bracket(9.0, 9.0)
    seen = delay_check("4g", "RTT", configured, 48.62 + 9.0, reference, sampling)
    assert seen.ok and not delay_check("4g", "RTT", configured, 48.62 + 9.0, reference).ok, seen
    assert not delay_check("4g", "RTT", configured, 1.1 * configured + 9.0, reference, sampling).ok
    assert not delay_check("4g", "RTT", configured, 0.9 * configured + 9.0, reference, sampling).ok
    assert f"+ {sampling:.2f} medians' sampling" in seen.note, seen.note
