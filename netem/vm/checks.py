"""Configured vs measured: tolerance checks and the table that shows them (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DELAY_REL = 0.02  # delay mean within 2 % (after subtracting the unimpaired baseline)
JITTER_REL = 0.15  # RTT stddev within 15 %
RATE_REL = 0.10  # rate within 10 %
SIGMAS = 3.0  # binomial bands: ± 3σ


@dataclass(frozen=True)
class Check:
    case: str
    metric: str
    configured: float
    measured: float
    tolerance: float  # absolute, in the metric's unit
    unit: str
    note: str = ""
    lower_only: bool = False  # ok when measured ≥ configured − tolerance (no upper limit)
    upper_only: bool = False  # ok when measured ≤ configured + tolerance (no lower limit)

    @property
    def ok(self) -> bool:
        if not math.isfinite(self.measured):
            return False
        if self.lower_only:
            return self.measured >= self.configured - self.tolerance
        if self.upper_only:
            return self.measured <= self.configured + self.tolerance
        return abs(self.measured - self.configured) <= self.tolerance

    def as_dict(self) -> dict[str, object]:
        return {"case": self.case, "metric": self.metric, "configured": self.configured,
                "measured": self.measured, "tolerance": self.tolerance, "unit": self.unit, "ok": self.ok,
                "note": self.note}


def at_least(case: str, metric: str, configured: float, measured: float, share: float, unit: str,
             note: str = "") -> Check:
    """One-sided: `measured` ≥ `share` × `configured`."""
    return Check(case, metric, configured, measured, (1 - share) * configured, unit,
                 note or f"≥ {share:g} × configured", lower_only=True)


def relative(case: str, metric: str, configured: float, measured: float, rel: float, unit: str,
             note: str = "") -> Check:
    return Check(case, metric, configured, measured, abs(configured) * rel, unit, note or f"±{rel:.0%}")


def binomial(case: str, metric: str, p_pct: float, measured_pct: float, n: int, inflate: float = 1.0,
             note: str = "") -> Check:
    """± 3σ of a proportion over `n` trials; `inflate` scales the variance (correlated events)."""
    p = p_pct / 100.0
    sigma_pct = 100.0 * math.sqrt(max(p * (1 - p), 0.0) / max(n, 1) * inflate)
    return Check(case, metric, p_pct, measured_pct, SIGMAS * sigma_pct, "%",
                 note or f"3σ binomial, n={n}" + (f", ×{inflate:.2f} var" if inflate != 1.0 else ""))


def excess_stddev(total_ms: float, base_ms: float) -> float:
    """The impairment's share of a standard deviation: sqrt(total² − baseline²)."""
    return math.sqrt(max(total_ms**2 - base_ms**2, 0.0))


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (q in [0, 1]); NaN when empty."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def robust_sigma(values: Sequence[float]) -> float:
    """σ from the interquartile range (IQR / 1.349, exact for a normal distribution)."""
    return (quantile(values, 0.75) - quantile(values, 0.25)) / 1.349


def markov_inflation(p_pct: float, r_pct: float) -> float:
    """Variance factor (1 + ρ)/(1 − ρ) of the loss count of a two-state chain, ρ = 1 − p − r."""
    rho = 1.0 - (p_pct + r_pct) / 100.0
    return (1 + rho) / (1 - rho) if rho < 1 else math.inf


def table(checks: Sequence[Check]) -> str:
    """A Markdown table: case, metric, configured, measured, tolerance, verdict."""
    lines = ["| case | metric | configured | measured | tolerance | ok |",
             "|---|---|---:|---:|---|---|"]
    for c in checks:
        lines.append(f"| {c.case} | {c.metric} | {c.configured:.3f} {c.unit} | {c.measured:.3f} {c.unit} "
                     f"| ±{c.tolerance:.3f} ({c.note}) | {'yes' if c.ok else 'NO'} |")
    return "\n".join(lines)
