"""The draft's confidence: moving averages over MAD intervals, stable within SDT."""

from __future__ import annotations

import math

from services.client.responsiveness import stability


def test_moving_averages_use_up_to_mad_values() -> None:
    assert stability.moving_averages([4.0, 8.0, 12.0, 16.0, 20.0], mad=4) == [4.0, 6.0, 8.0, 10.0, 14.0]
    first, second = stability.moving_averages([math.nan, 2.0], mad=4)  # NaN intervals are skipped
    assert math.isnan(first) and second == 2.0


def test_stable_when_the_deviation_is_within_five_percent() -> None:
    assert stability.is_stable([100.0, 101.0, 99.0, 100.0])
    assert not stability.is_stable([80.0, 120.0, 80.0, 120.0])
    assert not stability.is_stable([100.0, 100.0, 100.0])  # fewer than MAD averages


def test_confidence_low_medium_high() -> None:
    flat = [10.0] * 8
    assert stability.confidence([flat[:3], flat[:3]]) == stability.LOW
    assert stability.confidence([flat, flat]) == stability.HIGH
    growing = [10.0 * 2 ** i for i in range(8)]  # never settles
    assert stability.confidence([flat, growing]) == stability.MEDIUM
