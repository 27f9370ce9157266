"""Configured vs measured: tolerance checks and the table that shows them (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DELAY_REL = 0.02  # delay mean within 2 % (after subtracting the unimpaired baseline)
JITTER_REL = 0.15  # RTT stddev within 15 %
RATE_REL = 0.10  # rate within 10 %
SIGMAS = 3.0  # binomial bands: ± 3σ
TAIL = 0.5 * math.erfc(SIGMAS / math.sqrt(2))  # one tail beyond 3σ of a normal: 0.135 %


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


def binomial_counts(n: int, p: float, tail: float = TAIL) -> tuple[int, int]:
    """The counts `lo`, `hi` with P(X < lo) ≤ `tail` and P(X > hi) ≤ `tail` for X ~ Binomial(n, p): the exact
    acceptance region, from the probability mass summed in log space (n up to millions)."""
    if p <= 0.0 or n <= 0:
        return 0, 0
    if p >= 1.0:
        return n, n
    log_p, log_q, log_n = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    lo, hi, below = 0, n, 0.0
    for k in range(n + 1):
        mass = math.exp(log_n - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q)
        if below + mass <= tail:
            lo = k + 1  # P(X ≤ k) is still within the lower tail
        below += mass
        if 1.0 - below <= tail:
            hi = k
            break
    return lo, hi


def binomial(case: str, metric: str, p_pct: float, measured_pct: float, n: int, inflate: float = 1.0,
             note: str = "") -> Check:
    """± 3σ of a proportion over `n` trials; `inflate` scales the variance (correlated events, as if
    n / inflate trials). Where few events are expected the count's distribution is skewed and its upper
    tail far longer than 3σ of a normal: at 0.1 % of 500 probes, 3 losses happen 1.4 % of the time, 0.424 %
    ± would reject them (CI 88804dc, 4g). So the band is the wider of the 3σ normal band and the exact
    binomial region with the same tails (0.135 % each); with many expected events the two agree to a count."""
    p = p_pct / 100.0
    sigma_pct = 100.0 * math.sqrt(max(p * (1 - p), 0.0) / max(n, 1) * inflate)
    trials = max(round(n / inflate), 1) if math.isfinite(inflate) and inflate > 0 else 1
    lo, hi = binomial_counts(trials, p)
    # half a count beyond each end: every count in lo..hi passes and its neighbours fail, rounding aside
    exact_pct = 100.0 * max((hi + 0.5) / trials - p, p - (lo - 0.5) / trials)
    exact = exact_pct > SIGMAS * sigma_pct
    generated = f"3σ binomial, n={n}" + (f", ×{inflate:.2f} var" if inflate != 1.0 else "")
    shown = (note or generated) + (f"; exact tails: {lo}-{hi} of {trials}" if exact else "")
    return Check(case, metric, p_pct, measured_pct, max(SIGMAS * sigma_pct, exact_pct), "%", shown)


def path_loss_pct(lost: int, sent: int) -> float:
    """The testbed path's own loss (%) from references that carry no netem loss: the Jeffreys estimate
    (lost + ½) / (sent + 1), which is never 0. A path that lost nothing in a few hundred reference probes is
    not known to lose nothing, and with 0 % a check's exact region is 0-0: one loss fails a correct stack
    (the twelve-replica test in the VM, 2026-12-07 14:35: near, 1 of 600 for 0 %, its prober 0 of 400). With
    0 of 600 references it is 0.083 %, and 0-3 losses of 500 pass; with tens of losses it is their rate."""
    return 100.0 * (lost + 0.5) / (max(sent, 0) + 1)


def with_path_loss(configured_pct: float, path_pct: float) -> float:
    """A probe arrives when netem and the path both let it through."""
    return 100.0 * (1 - (1 - configured_pct / 100) * (1 - path_pct / 100))


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
