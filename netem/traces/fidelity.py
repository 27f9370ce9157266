"""How closely a replay reproduces a recording: the figures of the fidelity goal, from two recordings.

- RTT distribution: two-sample Kolmogorov-Smirnov distance (largest gap between the empirical CDFs);
  medians, relative difference.
- Loss per direction: the rates and the difference in units of its standard deviation, for two
  independent samples of a Gilbert-Elliott process (the binomial variance times (1 + ρ)/(1 - ρ),
  ρ = 1 - p - r of the reference's fit).
- Mean loss-burst length per direction, relative difference.
- Per-window delay (RTT median per window) correlated with the reference's, the windows aligned on
  the trace's time (`offset_s`: where the replay's first probe fell in the trace).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from netem.traces import gefit
from netem.traces.recording import Recording, median, windows

GOAL_KS = 0.1
GOAL_MEDIAN_PCT = 3.0
GOAL_MEDIAN_FLOOR_MS = 1.0
GOAL_LOSS_SIGMAS = 3.0
GOAL_BURST_PCT = 25.0
GOAL_CORRELATION = 0.9


def ks_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """sup |F_a(x) − F_b(x)| over the pooled sample points."""
    if not a or not b:
        return math.nan
    xs, ys = sorted(a), sorted(b)
    return max(abs(bisect.bisect_right(xs, v) / len(xs) - bisect.bisect_right(ys, v) / len(ys))
               for v in (*xs, *ys))


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson's r of two equally long series (NaN when either is constant)."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return math.nan
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


@dataclass(frozen=True)
class LossCompare:
    direction: str
    reference_pct: float
    replay_pct: float
    sigmas: float  # |difference| / its standard deviation
    reference_burst: float
    replay_burst: float

    @property
    def burst_diff_pct(self) -> float:
        if self.reference_burst == 0:
            return 0.0 if self.replay_burst == 0 else math.inf
        return 100 * (self.replay_burst - self.reference_burst) / self.reference_burst


@dataclass(frozen=True)
class Comparison:
    ks: float
    reference_median_ms: float
    replay_median_ms: float
    loss: tuple[LossCompare, ...]
    correlation: float
    windows: int

    @property
    def median_diff_pct(self) -> float:
        return 100 * (self.replay_median_ms - self.reference_median_ms) / self.reference_median_ms

    def problems(self) -> list[str]:
        """Every part of the fidelity goal this replay misses (empty: it meets the goal)."""
        found = []
        if not self.ks <= GOAL_KS:
            found.append(f"RTT KS distance {self.ks:.3f} > {GOAL_KS}")
        allowed = max(GOAL_MEDIAN_PCT / 100 * self.reference_median_ms, GOAL_MEDIAN_FLOOR_MS)
        if not abs(self.replay_median_ms - self.reference_median_ms) <= allowed:
            found.append(f"RTT median {self.replay_median_ms:.2f} ms vs {self.reference_median_ms:.2f} ms "
                         f"(allowed ±{allowed:.2f} ms)")
        for loss in self.loss:
            if not loss.sigmas <= GOAL_LOSS_SIGMAS:
                found.append(f"loss {loss.direction} {loss.replay_pct:.2f}% vs {loss.reference_pct:.2f}% "
                             f"({loss.sigmas:.1f} σ)")
            if not abs(loss.burst_diff_pct) <= GOAL_BURST_PCT:
                found.append(f"mean loss burst {loss.direction} {loss.replay_burst:.2f} vs "
                             f"{loss.reference_burst:.2f} ({loss.burst_diff_pct:+.0f}%)")
        if not self.correlation >= GOAL_CORRELATION:
            found.append(f"per-window delay correlation {self.correlation:.3f} < {GOAL_CORRELATION}")
        return found


def _rate_and_burst(lost: Sequence[bool]) -> tuple[float, float]:
    losses = sum(lost)
    bursts = sum(1 for value, _ in gefit.runs(lost) if value)
    return (losses / len(lost) if lost else 0.0), (losses / bursts if bursts else 0.0)


def _loss(direction: str, reference: Recording, replay: Recording) -> LossCompare:
    ref_seq, rep_seq = reference.loss_sequence(direction), replay.loss_sequence(direction)
    (ref_rate, ref_burst), (rep_rate, rep_burst) = _rate_and_burst(ref_seq), _rate_and_burst(rep_seq)
    pooled = (ref_rate * len(ref_seq) + rep_rate * len(rep_seq)) / max(len(ref_seq) + len(rep_seq), 1)
    chain = gefit.gilbert(ref_seq) if any(ref_seq) else None
    rho = min(max(1 - chain.p - chain.r, 0.0), 0.999) if chain else 0.0
    inverse_n = 1 / max(len(ref_seq), 1) + 1 / max(len(rep_seq), 1)
    variance = pooled * (1 - pooled) * (1 + rho) / (1 - rho) * inverse_n
    diff = abs(ref_rate - rep_rate)
    sigmas = diff / math.sqrt(variance) if variance > 0 else (0.0 if diff == 0 else math.inf)
    return LossCompare(direction, 100 * ref_rate, 100 * rep_rate, sigmas, ref_burst, rep_burst)


def window_medians(recording: Recording, window_s: float, offset_s: float, count: int,
                   period_s: float | None = None) -> list[float]:
    """RTT median per window of the trace's time (the recording's first probe at `offset_s`; a looping
    trace's time starts again after `period_s`)."""
    pairs = [((p.send_s + offset_s) % period_s if period_s else p.send_s + offset_s, p.rtt_ms)
             for p in recording.probes if p.rtt_ms is not None]
    return [median(v) for v in windows(pairs, window_s, count)]


def compare(reference: Recording, replay: Recording, window_s: float, offset_s: float = 0.0,
            period_s: float | None = None) -> Comparison:
    """The replay against the reference; windows where either has no reply are left out of r. A replay of a
    looping trace gives `period_s` (the recorded trace's length), so its later loops fold onto the first."""
    count = int(reference.duration_s // window_s) + 1
    ref_w = window_medians(reference, window_s, 0.0, count)
    rep_w = window_medians(replay, window_s, offset_s, count, period_s)
    both = [(a, b) for a, b in zip(ref_w, rep_w, strict=True) if not (math.isnan(a) or math.isnan(b))]
    r = correlation([a for a, _ in both], [b for _, b in both])
    losses = (_loss("up", reference, replay), _loss("down", reference, replay))
    return Comparison(ks_distance(reference.rtts_ms(), replay.rtts_ms()), median(reference.rtts_ms()),
                      median(replay.rtts_ms()), losses, r, len(both))
