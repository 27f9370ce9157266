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
    Bracket,
    delay_check,
    ends_key,
    jitter_ms,
    modelled_median_ms,
    reference_ends,
    reference_profile,
)


def test_the_reference_delays_exactly_the_ends_the_profile_delays_by_1_ms() -> None:
    four_g = load_profile("4g").ends  # edge and core, jitter, loss and rates
    ref = reference_ends(four_g)
    assert set(ref) == {end for end, imp in four_g.items() if imp.delay_us}
    assert all(imp.delay_us == 1000 and imp.set_keys() == ["delay"] for imp in ref.values())
    lossy = load_profile("lossy").ends  # edge only
    assert set(reference_ends(lossy)) == {("edge", "up"), ("edge", "down")}
    assert ends_key(four_g) != ends_key(lossy)
    assert ends_key(four_g) == ends_key(load_profile("satellite").ends)


def test_the_reference_profile_loads_as_a_profile_with_the_same_ends() -> None:
    ends = load_profile("4g").ends
    data = reference_profile(ends, "4g")
    parsed = parse_profile(yaml.safe_load(yaml.safe_dump(data)), "reference.yaml", "reference").ends
    assert parsed == reference_ends(ends)
    assert expected(parsed).rtt_ms == pytest.approx(4.0)  # 1 ms on each of four ends


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
    reference = 4.0 + 1.0  # 1 ms on four ends, plus the overhead's median
    configured = modelled_median_ms(ends, STALLS) - reference
    right = delay_check("4g", "RTT", configured, configured + reference, Bracket(reference, reference))
    wrong = delay_check("4g", "RTT", configured, 1.1 * configured + reference, Bracket(reference, reference))
    assert right.ok and not wrong.ok, (right, wrong)


def test_the_guest_polls_when_idle_only_when_asked() -> None:
    from netem.vm.host.boot import IDLE_POLL_ENV, KERNEL_ARGS, kernel_args

    assert kernel_args({}) == KERNEL_ARGS and "idle=poll" not in KERNEL_ARGS
    assert kernel_args({IDLE_POLL_ENV: "1"}).endswith(" idle=poll")
    assert kernel_args({IDLE_POLL_ENV: "0"}) == KERNEL_ARGS
