"""Round-trips per minute as draft-ietf-ippm-responsiveness defines it (pure; milliseconds in).

- Each probe kind is aggregated with a single-sided trimmed mean at the TMP percentile (95 %): the
  slowest 5 % are dropped (⌊n·5/100⌋ values), the rest averaged.
- Foreign probes run on fresh connections: `tcp_f` (TCP handshake) and `http_f` (GET of a small object
  → whole response). Without TLS ("TCP-only case") the foreign RTT is the mean of the two trimmed means
  (a TLS time would be a third, equal-weight term): Foreign_RPM = 60000 / ((TM(tcp_f) + TM(http_f)) / 2).
- Self probes run on the load-generating connections (`http_l`); on HTTP/1.1 a request cannot be
  multiplexed there, so the draft allows the TCP stack's RTT estimate instead (TCP_INFO):
  Self_RPM = 60000 / TM(http_l).
- RPM = (Foreign_RPM + Self_RPM) / 2, an average of rates, not of times.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

TRIMMED_MEAN_PCT = 95  # TMP: the draft's default
MS_PER_MINUTE = 60_000.0

# The draft's four classes (RPM lower bounds): 300 RPM = 200 ms, 1000 = 60 ms, 6000 = 10 ms.
CLASSES: tuple[tuple[float, str], ...] = ((6000.0, "excellent"), (1000.0, "good"), (300.0, "fair"),
                                          (0.0, "poor"))


def trimmed_mean(values: Iterable[float], keep_pct: int = TRIMMED_MEAN_PCT) -> float:
    """Single-sided trimmed mean: drop the largest ⌊n·(100 − keep_pct)/100⌋ values, average the rest.

    NaN for an empty sample. Integer arithmetic for the count, so 20 values at 95 % drop exactly one.
    """
    data = sorted(v for v in values if not math.isnan(v))
    if not data:
        return math.nan
    drop = len(data) * (100 - keep_pct) // 100
    kept = data[: len(data) - drop]
    return math.fsum(kept) / len(kept)


def per_minute(rtt_ms: float) -> float:
    """60000 / RTT in ms; NaN when the RTT is unknown or not positive."""
    if math.isnan(rtt_ms) or rtt_ms <= 0:
        return math.nan
    return MS_PER_MINUTE / rtt_ms


@dataclass(frozen=True)
class Responsiveness:
    """The draft's numbers for one set of probes; NaN where a probe kind is missing."""

    tcp_f_ms: float       # TM(tcp_f)
    http_f_ms: float      # TM(http_f)
    http_l_ms: float      # TM(http_l) (self probes, or TCP_INFO RTT)
    foreign_rpm: float
    self_rpm: float
    rpm: float            # (foreign + self) / 2; the one that exists when only one kind does
    foreign_count: int
    self_count: int

    @property
    def rating(self) -> str:
        return classify(self.rpm)


def responsiveness(tcp_f_ms: Iterable[float], http_f_ms: Iterable[float],
                   http_l_ms: Iterable[float], keep_pct: int = TRIMMED_MEAN_PCT) -> Responsiveness:
    """RPM of the TCP-only case from raw probe times (ms).

    With no self probes (an idle phase has no load-generating connection) the RPM is the foreign one,
    and the other way round; both missing gives NaN.
    """
    tcp, http, self_ = list(tcp_f_ms), list(http_f_ms), list(http_l_ms)
    tm_tcp, tm_http, tm_self = (trimmed_mean(tcp, keep_pct), trimmed_mean(http, keep_pct),
                                trimmed_mean(self_, keep_pct))
    foreign = per_minute((tm_tcp + tm_http) / 2)
    own = per_minute(tm_self)
    present = [r for r in (foreign, own) if not math.isnan(r)]
    combined = math.fsum(present) / len(present) if present else math.nan
    return Responsiveness(tm_tcp, tm_http, tm_self, foreign, own, combined,
                          min(len(tcp), len(http)), len(self_))


def classify(rpm: float) -> str:
    """The draft's words: poor (< 300 RPM), fair (< 1000), good (< 6000), excellent; '' when unknown."""
    if math.isnan(rpm):
        return ""
    return next(name for bound, name in CLASSES if rpm >= bound)
