"""A log-bucketed latency histogram (HdrHistogram-style): constant memory, bounded relative error.

Values are non-negative integers (nanoseconds here). Values below 2 × SUB_BUCKETS are counted exactly;
above, every power-of-two range [2^k, 2^(k+1)) is split into SUB_BUCKETS equal buckets, so a bucket is at
most 1/SUB_BUCKETS of its lower bound wide. A percentile is reported as the middle of its bucket: at most
1/(2 × SUB_BUCKETS) = 0.39 % from the recorded value it stands for (≤ 1 % is the contract). Memory is
one count per bucket up to MAX_VALUE (about 4 600 counts); larger values count in the top bucket, and the
exact minimum, maximum and sum are kept beside the buckets. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

SUB_BITS = 7
SUB_BUCKETS = 1 << SUB_BITS  # 128 buckets per power of two
MAX_VALUE = (1 << 42) - 1  # ≈ 73 min in ns; larger values are clamped into the top bucket
_EXACT = 2 * SUB_BUCKETS  # values below this have a bucket each
_COUNT = (MAX_VALUE.bit_length() - SUB_BITS) * SUB_BUCKETS + SUB_BUCKETS
PERCENTILES = (50.0, 90.0, 99.0, 99.9, 99.99)


def bucket_of(value: int) -> int:
    """The bucket index of a value (clamped to [0, MAX_VALUE])."""
    value = min(max(value, 0), MAX_VALUE)
    shift = value.bit_length() - SUB_BITS - 1
    if shift <= 0:
        return value
    return (shift << SUB_BITS) + (value >> shift)


def bucket_range(index: int) -> tuple[int, int]:
    """[low, high] of the values that fall in bucket `index`."""
    if index < _EXACT:
        return index, index
    shift = (index >> SUB_BITS) - 1
    low = (index - (shift << SUB_BITS)) << shift
    return low, low + (1 << shift) - 1


@dataclass
class Histogram:
    """Counts per bucket plus the exact count, sum, minimum and maximum."""

    counts: list[int] = field(default_factory=lambda: [0] * _COUNT)
    total: int = 0
    sum: int = 0
    min: int = 0
    max: int = 0

    def record(self, value: int) -> None:
        value = max(value, 0)
        if value < _EXACT:
            self.counts[value] += 1
        else:
            shift = min(value, MAX_VALUE).bit_length() - SUB_BITS - 1
            self.counts[(shift << SUB_BITS) + (min(value, MAX_VALUE) >> shift)] += 1
        if self.total == 0 or value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        self.total += 1
        self.sum += value

    def record_all(self, values: Iterable[int]) -> None:
        for value in values:
            self.record(value)

    def merge(self, other: Histogram) -> None:
        if other.total == 0:
            return
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.min = other.min if self.total == 0 else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.total += other.total
        self.sum += other.sum

    def percentile(self, q: float) -> float:
        """The value at percentile `q` (nearest rank, as the middle of its bucket); NaN when empty.

        The 100th percentile and any rank that lands in the maximum's bucket report the exact maximum;
        the 0th the exact minimum.
        """
        if self.total == 0:
            return math.nan
        rank = max(1, math.ceil(q / 100.0 * self.total))
        if rank >= self.total:
            return float(self.max)
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                low, high = bucket_range(index)
                if high >= self.max:
                    return float(self.max)
                return max((low + high) / 2, float(self.min))
        return float(self.max)  # pragma: no cover - the counts add up to total

    def percentiles(self, qs: Sequence[float] = PERCENTILES) -> dict[float, float]:
        return {q: self.percentile(q) for q in qs}

    @property
    def mean(self) -> float:
        return self.sum / self.total if self.total else math.nan
