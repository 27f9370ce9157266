"""RPM and trimmed means as draft-ietf-ippm-responsiveness defines them (hand-computed values)."""

from __future__ import annotations

import math

import pytest

from services.client.responsiveness import rpm


def test_trimmed_mean_drops_the_slowest_five_percent() -> None:
    values = [10.0] * 19 + [1000.0]  # 20 values: ⌊20 × 5 / 100⌋ = 1 dropped, the outlier
    assert rpm.trimmed_mean(values) == 10.0
    assert rpm.trimmed_mean(list(range(1, 101))) == pytest.approx(sum(range(1, 96)) / 95)  # 5 of 100


def test_trimmed_mean_keeps_everything_below_twenty_values() -> None:
    assert rpm.trimmed_mean([1.0, 2.0, 3.0, 100.0]) == pytest.approx(26.5)  # ⌊4 × 0.05⌋ = 0
    assert rpm.trimmed_mean([5.0]) == 5.0


def test_trimmed_mean_of_nothing_is_nan_and_nan_values_are_skipped() -> None:
    assert math.isnan(rpm.trimmed_mean([]))
    assert rpm.trimmed_mean([math.nan, 4.0, 6.0]) == 5.0


def test_trimmed_mean_is_single_sided() -> None:
    """Only the top is trimmed: a fast outlier stays in (it is a real, short round trip)."""
    values = [0.1] + [10.0] * 39  # 40 values: the largest 2 go, the 0.1 stays
    assert rpm.trimmed_mean(values) == pytest.approx((0.1 + 37 * 10.0) / 38)


def test_tcp_only_formula() -> None:
    """Foreign = 60000 / ((TM(tcp_f) + TM(http_f)) / 2); self = 60000 / TM(http_l); RPM = their mean."""
    result = rpm.responsiveness([20.0] * 10, [40.0] * 10, [100.0] * 10)
    assert result.foreign_rpm == pytest.approx(60000 / 30)   # 2000
    assert result.self_rpm == pytest.approx(60000 / 100)     # 600
    assert result.rpm == pytest.approx((2000 + 600) / 2)    # an average of rates, not of times
    assert (result.tcp_f_ms, result.http_f_ms, result.http_l_ms) == (20.0, 40.0, 100.0)
    assert (result.foreign_count, result.self_count) == (10, 10)


def test_the_trimmed_means_feed_the_formula() -> None:
    tcp = [10.0] * 19 + [5000.0]
    result = rpm.responsiveness(tcp, [30.0] * 20, [60.0] * 20)
    assert result.tcp_f_ms == 10.0 and result.foreign_rpm == pytest.approx(3000.0)
    assert result.rpm == pytest.approx((3000.0 + 1000.0) / 2)


def test_one_kind_missing_gives_the_other_and_none_gives_nan() -> None:
    idle = rpm.responsiveness([10.0], [10.0], [])
    assert math.isnan(idle.self_rpm) and idle.rpm == pytest.approx(6000.0)
    only_self = rpm.responsiveness([], [], [30.0])
    assert only_self.rpm == pytest.approx(2000.0)
    assert math.isnan(rpm.responsiveness([], [], []).rpm)


@pytest.mark.parametrize(("value", "rating"), [
    (6000.0, "excellent"), (5999.0, "good"), (1000.0, "good"), (999.0, "fair"), (300.0, "fair"),
    (299.9, "poor"), (0.0, "poor"), (math.nan, "")])
def test_the_drafts_classes(value: float, rating: str) -> None:
    assert rpm.classify(value) == rating


def test_per_minute() -> None:
    assert rpm.per_minute(60.0) == 1000.0
    assert math.isnan(rpm.per_minute(0.0)) and math.isnan(rpm.per_minute(math.nan))
