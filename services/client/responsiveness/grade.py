"""The bufferbloat grade: A+ … F by how much latency grows when the link is loaded (pure).

Boundaries are those of the DSLReports speed test that the Waveform and 8x8 tests reuse: the increase
of the round trip under load over the idle round trip, A+ < 5 ms, A < 30 ms, B < 60 ms, C < 200 ms,
D < 400 ms, F ≥ 400 ms (there is no E). The overall grade takes the mean of the download and upload
increases ("average of down bloat and up bloat"), so a link bloated in one direction only is not an A.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

BOUNDS_MS: tuple[tuple[float, str], ...] = ((5.0, "A+"), (30.0, "A"), (60.0, "B"), (200.0, "C"),
                                            (400.0, "D"))
WORST = "F"


def grade(increase_ms: float) -> str:
    """Grade of one latency increase (ms); '' when unknown (a decrease is below every bound: A+)."""
    if math.isnan(increase_ms):
        return ""
    return next((name for bound, name in BOUNDS_MS if increase_ms < bound), WORST)


def overall(increases_ms: Iterable[float]) -> tuple[float, str]:
    """(mean increase, grade) of the known increases (download and upload); (NaN, '') when none."""
    known = [v for v in increases_ms if not math.isnan(v)]
    if not known:
        return math.nan, ""
    mean = math.fsum(known) / len(known)
    return mean, grade(mean)


def increase_ms(loaded_median_ms: float, idle_median_ms: float) -> float:
    """Loaded minus idle median RTT (ms). Kept signed: a small negative value is noise, and grades A+."""
    if math.isnan(loaded_median_ms) or math.isnan(idle_median_ms):
        return math.nan
    return loaded_median_ms - idle_median_ms
