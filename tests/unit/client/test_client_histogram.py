"""The log-bucketed latency histogram: bucket arithmetic, ≤ 1 % relative error, merging, edge cases."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.client.histogram import MAX_VALUE, SUB_BUCKETS, Histogram, bucket_of, bucket_range


def exact(values: list[int], q: float) -> int:
    """Nearest-rank percentile of the raw values."""
    data = sorted(values)
    return data[max(1, math.ceil(q / 100 * len(data))) - 1]


def test_buckets_tile_the_range_without_gaps() -> None:
    previous_high = -1
    for index in range(bucket_of(MAX_VALUE) + 1):
        low, high = bucket_range(index)
        assert low == previous_high + 1 and bucket_of(low) == index == bucket_of(high)
        assert (high - low + 1) <= max(1, low / SUB_BUCKETS)  # width ≤ 1/128 of the lower bound
        previous_high = high
    assert previous_high == MAX_VALUE


@pytest.mark.parametrize("value", [0, 1, 255, 256, 257, 1000, 123_456_789, MAX_VALUE])
def test_a_single_value_is_reported_exactly(value: int) -> None:
    histogram = Histogram()
    histogram.record(value)
    assert histogram.percentile(50) == histogram.percentile(100) == value == histogram.max == histogram.min


@settings(deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**11), min_size=1, max_size=400),
       st.sampled_from([0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0]))
def test_percentiles_within_one_percent_of_exact(values: list[int], q: float) -> None:
    histogram = Histogram()
    histogram.record_all(values)
    want = exact(values, q)
    assert histogram.percentile(q) == pytest.approx(want, rel=0.01, abs=0.5)
    assert histogram.total == len(values) and histogram.sum == sum(values)


def test_latency_like_distribution_and_merge() -> None:
    rng = random.Random(7)
    values = [int(rng.lognormvariate(13, 1.2)) for _ in range(50_000)] + [500_000_000]  # one 500 ms stall
    left, right, whole = Histogram(), Histogram(), Histogram()
    left.record_all(values[:20_000])
    right.record_all(values[20_000:])
    whole.record_all(values)
    left.merge(right)
    assert left == whole
    for q in (50, 90, 99, 99.9, 99.99):
        assert whole.percentile(q) == pytest.approx(exact(values, q), rel=0.01)
    assert whole.percentile(100) == 500_000_000 and whole.mean == pytest.approx(sum(values) / len(values))


def test_empty_and_clamped() -> None:
    empty = Histogram()
    assert math.isnan(empty.percentile(50)) and math.isnan(empty.mean)
    big = Histogram()
    big.record(MAX_VALUE * 4)
    big.record(-5)
    assert big.max == MAX_VALUE * 4 and big.min == 0 and big.percentile(100) == MAX_VALUE * 4
    assert sum(big.counts) == 2 and len(big.counts) == len(Histogram().counts)  # constant memory
