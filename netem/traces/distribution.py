"""An empirical delay distribution as a netem table, in iproute2's `maketable` format.

netem draws each packet's delay as mu + sigma × t / 8192, with t taken uniformly from a table of signed
16-bit values (NETEM_DIST_SCALE = 8192; `delay MU SIGMA distribution NAME`, the table from NAME.dist).
So the table holds the inverse CDF of the recorded variation in units of sigma/8192. iproute2's
`maketable` builds it through a histogram from -4 to +4 standard deviations; here it is read off the
sorted samples at 4096 evenly spaced quantiles, and sigma is widened when a sample lies further out
than the 16-bit range can hold (±4 sigma), so a recorded spike is kept instead of clipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from netem.traces.errors import TraceError

DIST_SCALE = 8192
TABLE_SIZE = 4096  # what maketable writes
MAX_TABLE = 16 * 1024  # what tc accepts (MAX_DIST)
S16 = 32767
PER_LINE = 8


@dataclass(frozen=True)
class DelayTable:
    """`sigma_us` is netem's jitter argument for this table; `values` the table itself."""

    sigma_us: int
    values: tuple[int, ...]

    def sample_us(self, index: int) -> float:
        """The variation netem adds for table entry `index` (µs)."""
        return self.sigma_us * self.values[index] / DIST_SCALE


def _quantile(ordered: Sequence[float], u: float) -> float:
    rank = u * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def from_samples(variation_us: Sequence[float], size: int = TABLE_SIZE) -> DelayTable | None:
    """The table for samples of delay variation around their centre (µs); None when they do not vary."""
    if len(variation_us) < 2:
        return None
    ordered = sorted(variation_us)
    mean = math.fsum(ordered) / len(ordered)
    stddev = math.sqrt(math.fsum((x - mean) ** 2 for x in ordered) / len(ordered))
    reach = max(abs(ordered[0]), abs(ordered[-1]))
    sigma = math.ceil(max(stddev, reach * DIST_SCALE / S16))
    if sigma < 1:
        return None
    values = tuple(max(-S16, min(S16, round(_quantile(ordered, (i + 0.5) / size) * DIST_SCALE / sigma)))
                   for i in range(size))
    return DelayTable(sigma, values)


def render(table: DelayTable, comment: str = "") -> str:
    """The `.dist` file text (tc reads it with `distribution NAME` from $TC_LIB_DIR)."""
    lines = ["# This is the distribution table for the experimental distribution."]
    lines += [f"# {line}" for line in comment.splitlines() if line.strip()]
    lines.append(f"# use with: delay MU {table.sigma_us}us distribution NAME")
    for start in range(0, len(table.values), PER_LINE):
        lines.append(" ".join(str(v) for v in table.values[start:start + PER_LINE]))
    return "\n".join(lines) + "\n"


def parse(text: str, source: str) -> tuple[int, ...]:
    """A `.dist` file as tc reads it: `#` lines skipped, whitespace-separated 16-bit integers."""
    values: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        for word in line.split():
            try:
                value = int(word, 0)
            except ValueError:
                raise TraceError(source, number, "value", word, "whole numbers (a maketable table)") from None
            if not -S16 - 1 <= value <= S16:
                raise TraceError(source, number, "value", value, "a signed 16-bit value (-32768..32767)")
            values.append(value)
    if not values:
        raise TraceError(source, 0, "(file)", "", "at least one table value (the table is empty)")
    if len(values) > MAX_TABLE:
        raise TraceError(source, 0, "(file)", len(values), f"at most {MAX_TABLE} values (tc's limit)")
    return tuple(values)
